"""What the engine executors (Dask, Ray) share: the body of a pydron task on
an engine's worker (``_run``), what a worker must have in common with the
driver (``worker_info``) and the task names shown in the engine's dashboard.
The body runs ``_serialize.run_task`` exactly as a pydron worker does, so a
task's result, log records and exception are the same on every executor."""

from __future__ import annotations

import re

from . import _serialize

ETASK, ECANCELED, EIO = -7, -8, -10
SCATTER_MIN = 8 * 1024  # driver bytes at least this big are scattered once, then shared
LABELS: dict = {}  # function key -> task name prefix (set by the driver's Session)
INLINE_MAX = 64 * 1024  # results up to this size (the engine's measure) come to the driver at once


def _sanitize(name):
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)[:60] or "task"


def label_for(key, fn):
    """Remember fn's name for the engine's names of its tasks (the dashboard's)."""
    if len(LABELS) > 8192:
        LABELS.clear()
    LABELS[key] = "pydron." + _sanitize(getattr(fn, "__qualname__", None)
                                        or type(fn).__name__)


# -- on the engine's workers -----------------------------------------------------

_worker_ready = False


def _setup_worker():
    """Once per engine worker process: log records and warnings of tasks go to
    the driver (as from pydron's own workers); the engine's logging is untouched."""
    global _worker_ready
    import warnings

    from . import _settings

    _settings._hook()
    # as in pydron's own workers (_settings.install_capture, without taking
    # over the root logger's handlers, which are the engine's): each task runs with
    # its call's logging levels and warnings filters, and the driver decides
    # what is shown
    _settings._worker_filters = [("always" if a in ("default", "once", "module") else a,
                                  m, c, mod, ln) for a, m, c, mod, ln in warnings.filters]
    _settings.wrap_std()
    _settings.CAPTURE = _settings.COLLECT = True
    _worker_ready = True


def _join(blob):
    return blob if type(blob) is bytes else b"".join(blob)


def _run_task(payload, specs, vals):
    """run_task on an engine's worker, as a pydron worker runs it. An input
    given as (spec k >= 0) is output k of a batch task."""
    if not _worker_ready:
        _setup_worker()
    inputs = [memoryview(v if s < 0 else v[s]) for s, v in zip(specs, vals)]
    return _serialize.run_task(memoryview(payload), inputs)


def _run(payload, nout, specs, *vals):
    """The body of a pydron task on an engine's worker (_run_task)."""
    out = _run_task(payload, specs, vals)
    if nout == 1:
        note = _serialize.take_note()
        if note is not None:
            _send_note(note, out)
        return _join(out)
    return tuple(_join(o) for o in out)


def _run_noted(payload, specs, *vals):
    """_run of a one-output task on Ray, which has no task metadata to carry
    a note: two returns, the note (b"" when the result carries it or there
    is none) and the result. The driver reads the note with the task's
    completion and leaves a large result in the object store (_ray)."""
    out = _run_task(payload, specs, vals)
    note = _serialize.take_note()
    return (note if note is not None else b""), _join(out)


def _send_note(note, out):
    """What the task printed, logged and warned, for a result that stays on
    this engine's worker (larger than INLINE_MAX) and that the program may
    never read: on Dask it goes to the scheduler's metadata of this task,
    which the driver reads with the result's size (_dask._task_info) and
    shows at the task's turn, as the completion's note of pydron's own
    workers (_serialize._note). Dropped with the task by the scheduler."""
    size = len(out) if type(out) is bytes else sum(memoryview(p).nbytes for p in out)
    if size <= INLINE_MAX:
        return  # the bytes come to the driver, and they carry it
    try:
        import distributed

        key = distributed.get_worker().get_current_task()
        distributed.get_client().set_metadata([key, "pydron-note"], note)
    except Exception:  # noqa: BLE001 - not on Dask (Ray): the bytes carry it
        pass


def worker_info():
    """What an engine's worker has that must match the driver."""
    import sys

    import cloudpickle

    from . import __version__

    return {"pydron": __version__, "cloudpickle": cloudpickle.__version__,
            "python": "%d.%d" % sys.version_info[:2]}


class BridgeLoop:
    """The executor thread of an engine executor (Dask, Ray): takes the
    core's events from ``self.bridge`` and hands them, in order, to the
    subclass's ``_submit(jobs)``, ``_finished(posted)``, ``_fetch`` (on
    ``self._fetcher``) and ``self._vals`` (value id -> the engine's handle)."""

    def _loop(self):
        b = self.bridge
        while True:
            evs = b.take(0.5)
            if evs is None:
                return
            jobs = []
            fetch = []
            finished = []
            for kind, x in evs:
                if kind == "job":
                    jobs.append(x)
                    continue
                if kind == "post":
                    finished.append(x)
                    continue
                if jobs:  # in order: a release below never precedes a use above
                    self._submit(jobs)
                    jobs = []
                if kind == "release":
                    self._vals.pop(x, None)
                elif kind == "fetch":
                    fetch.append(x)
            if jobs:
                self._submit(jobs)
            if finished:
                self._finished(finished)
            if fetch:
                self._fetcher.submit(self._fetch, [(v, self._vals.get(v)) for v in fetch])

