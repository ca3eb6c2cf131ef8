"""The Dask executor: ``@functional`` tasks run on an existing Dask cluster.

``configure(executor="dask", address="tcp://scheduler:8786")`` (or
``client=`` a ``distributed.Client``) makes each pydron task one Dask task.
The libpydron core still orders, retries and releases the tasks; this module
is its executor (the C contract of include/pydron.h, through
``Runtime.set_executor``):

* a job becomes ``client.submit(_run, payload, ..., *inputs)``. An input
  made by an earlier task is passed as that task's Dask future, so values
  stay on Dask workers and move between them as Dask decides (its
  scheduler, dashboard, spilling and resilience apply). Driver bytes (the
  pickled function, large arguments, the program's code) are scattered once
  and then passed as futures too; small ones travel inside the task.
* every output is reported as living at the executor's one location (the
  cluster); the core asks for bytes only when the driver reads a value
  (``fetch``: a batched ``client.gather``), and ``release`` drops the future,
  so Dask forgets the value.
* a failed task is the task's own exception (``TaskFailed`` from
  ``run_task``), shown by the driver exactly as on the other executors.

One thread per session takes the core's events (``ExecBridge.take``) and
Dask's completions (posted to the same queue from Dask's event loop).
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
import types
import uuid

from . import _core, _serialize
from ._engine import (BridgeLoop, ECANCELED, EIO, ETASK, INLINE_MAX, LABELS, SCATTER_MIN,  # noqa: F401
                      _run, label_for, worker_info)

log = logging.getLogger("pydron")

_CONST_KEEP = 512  # scattered driver values kept (newest win)


# -- on the Dask scheduler ------------------------------------------------------

def _task_info(dask_scheduler=None, keys=(), prefixes=()):
    """On the scheduler: the size of each finished task's result and the mean
    duration of each function's tasks (Dask's own measures)."""
    tasks = dask_scheduler.tasks
    nbytes = {}
    for k in keys:
        ts = tasks.get(k)
        if ts is not None and ts.nbytes is not None:
            nbytes[k] = ts.nbytes
    dur = {}
    tp = getattr(dask_scheduler, "task_prefixes", {})
    for p in prefixes:
        t = tp.get(p)
        d = getattr(t, "duration_average", None) if t is not None else None
        if d is not None and d >= 0:
            dur[p] = d
    # what tasks with large results printed (pydron._engine._send_note)
    notes = {}
    md = getattr(dask_scheduler, "task_metadata", {})
    for k in keys:
        m = md.get(k)
        if type(m) is dict and "pydron-note" in m:
            notes[k] = m.pop("pydron-note")
    return nbytes, dur, notes


# run_on_scheduler pickles a function of a module by reference: the scheduler
# would need pydron (this version) installed. A copy that belongs to no module
# travels by value (it reads nothing but its arguments).
_task_info_by_value = types.FunctionType(_task_info.__code__, {"__builtins__": __builtins__},
                                         "pydron_task_info", _task_info.__defaults__)


# -- on the driver ---------------------------------------------------------------

def connect(address=None, client=None, timeout=30):
    """The distributed.Client to use and whether pydron made it (and closes it)."""
    try:
        import distributed
    except ImportError:
        raise ImportError("the dask executor needs Dask distributed on the driver: "
                          "pip install 'dask[distributed]'") from None
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(f"client= must be a distributed.Client, not {type(client).__name__}")
        return client, False
    if not address:
        raise ValueError("the dask executor needs the scheduler's address "
                         "(configure(executor='dask', address='tcp://host:8786') or "
                         "PYDRON_ADDRESS) or a distributed.Client (configure(client=...))")
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except OSError as e:
        raise _core.TransportError(f"cannot reach the Dask scheduler at {address}: {e}") from None
    quiet_teardown(client.loop.asyncio_loop)
    return client, True


def quiet_teardown(loop):
    """Keep Dask's own teardown out of the program's stderr, on the event
    loop of a client pydron made (and so nothing but Dask runs on it).

    Closing a client stops its loop while Dask's internal waits with a
    timeout (tornado's ``gen.with_timeout``: the batched stream's waker,
    comm closes) may have timed out and not been resumed yet. Their futures
    then end with ``TimeoutError`` that nobody retrieves, and asyncio logs
    "Future exception was never retrieved" when they are collected: on a slow
    host, after a program that printed nothing of the kind. That report, and
    only that one (never retrieved, a TimeoutError), goes to pydron's debug
    log; every other one reaches the loop's handler as before."""
    prev = loop.get_exception_handler()

    def handler(lp, ctx):
        msg = ctx.get("message", "")
        if "exception was never retrieved" in msg and isinstance(ctx.get("exception"), TimeoutError):
            log.debug("pydron: Dask teardown: %s: %r", msg, ctx.get("exception"))
            return
        if prev is not None:
            prev(lp, ctx)
        else:
            lp.default_exception_handler(ctx)

    loop.set_exception_handler(handler)


def check_workers(client):
    """Every Dask worker must run this pydron (and Python, cloudpickle): a
    clear error naming the worker and both versions, not failing tasks."""
    mine = worker_info()
    try:
        infos = client.run(worker_info)
    except ModuleNotFoundError as e:
        raise _core.StateError(f"a Dask worker cannot import pydron ({e}): install pydron "
                               f"{mine['pydron']} where the Dask workers run") from None
    if not infos:
        log.warning("pydron: the Dask cluster has no workers yet; tasks wait for one")
    for addr, info in sorted(infos.items()):
        for k, v in mine.items():
            if info.get(k) != v:
                raise _core.StateError(f"Dask worker {addr} has {k} {info.get(k)}, the driver "
                                       f"has {v}: install the same version on both")
    return infos


class DaskExecutor(BridgeLoop):
    """The executor object behind Runtime.set_executor for one Session."""

    def __init__(self, client, own_client):
        self.client = client
        self._own = own_client
        self._vals: dict = {}  # value id -> (future, index in a batch's tuple or -1)
        self._consts: collections.OrderedDict = collections.OrderedDict()  # value id -> future
        self._jobs: dict = {}  # Dask key -> (job, number of outputs)
        self._dur: dict = {}  # key prefix -> mean seconds per task (Dask's measure)
        self._prefixes: set = set()
        self._fetcher = concurrent.futures.ThreadPoolExecutor(2, "pydron-dask-fetch")
        self._thread = None
        self.bridge = None
        try:
            from distributed.client import done_callback
        except ImportError:  # a Dask without it: the thread-pool path below
            done_callback = None
        self._done_callback = done_callback

    def attach(self, rt):
        nthreads = sum(self.client.nthreads().values()) or 1
        # one location (the cluster): Dask places the tasks; enough in flight
        # for every thread of the cluster to have work queued behind it
        self.bridge = rt.set_executor(self, 1, max(1024, 32 * nthreads))
        self._thread = threading.Thread(target=self._loop, name="pydron-dask", daemon=True)
        self._thread.start()

    def _const(self, vid, data):
        fut = self._consts.get(vid)
        if fut is None:
            fut = self._consts[vid] = self.client.scatter(data, hash=False)
            while len(self._consts) > _CONST_KEEP:
                self._consts.popitem(last=False)
        else:
            self._consts.move_to_end(vid)
        return fut

    def _submit(self, jobs):
        client = self.client
        for job in jobs:
            try:
                payload = job.payload()
                specs, vals = [], []
                for vid, where, data in job.inputs():
                    if where < 0:
                        vals.append(self._const(vid, data) if len(data) >= SCATTER_MIN else data)
                        specs.append(-1)
                        continue
                    ent = self._vals.get(vid)
                    if ent is None:
                        raise LookupError(f"input value {vid} is not on the Dask cluster")
                    vals.append(ent[0])
                    specs.append(ent[1])
                outs = job.outputs()
                fkey = _serialize.HDR.unpack_from(payload, 0)[0]
                prefix = LABELS.get(fkey, "pydron.task")
                key = f"{prefix}-{uuid.uuid4().hex}"
                fut = client.submit(_run, payload, len(outs), tuple(specs), *vals, key=key,
                                    pure=False)
            except Exception as e:  # noqa: BLE001 - the job fails with the reason
                job.set_error(f"pydron: the Dask executor cannot submit the task: "
                              f"{type(e).__name__}: {e}")
                job.done(EIO if isinstance(e, (LookupError, OSError)) else ETASK)
                continue
            n = len(outs)
            for i, vid in enumerate(outs):
                self._vals[vid] = (fut, -1 if n == 1 else i)
            self._jobs[key] = (job, outs, prefix)
            self._prefixes.add(prefix)
            self._watch(fut)

    def _watch(self, fut):
        """Call _post when fut ends, on Dask's event loop thread.

        Not Future.add_done_callback: that hands every callback to a class-wide
        thread pool, which the interpreter shuts down before atexit handlers
        run, so a task ending while pydron's session closes at exit made Dask
        log "cannot schedule new futures after shutdown" into the program's
        stderr. Dask's own done_callback coroutine, scheduled here directly,
        waits for the same future state without that pool."""
        if self._done_callback is None:
            fut.add_done_callback(self._post)
        else:
            self.client.loop.add_callback(self._done_callback, fut, self._post)

    def _post(self, fut):
        b = self.bridge  # Dask's event loop thread: only queue it
        if b is not None:
            b.post(fut)

    def _finished(self, futs):
        """Report Dask tasks that ended. Small results (Dask's nbytes, asked
        with the function durations in one scheduler call) come to the driver
        at once in one gather, as pydron's own workers send small outputs with
        their completion: the driver reads them without a round trip each.
        Large ones stay on the Dask workers until a fetch."""
        done = []
        for fut in futs:
            ent = self._jobs.pop(fut.key, None)
            if ent is not None:
                done.append((fut, ent))
        ok = [(f, e) for f, e in done if f.status == "finished"]
        nbytes = notes = {}
        if ok:
            try:
                nbytes, dur, notes = self.client.run_on_scheduler(
                    _task_info_by_value, keys=[f.key for f, _ in ok], prefixes=tuple(self._prefixes))
                self._dur.update(dur)
            except Exception as e:  # noqa: BLE001 - then every value stays remote
                log.debug("pydron: Dask task sizes unavailable: %s", e)
        small = [f for f, _ in ok if 0 <= nbytes.get(f.key, -1) <= INLINE_MAX]
        got = {}
        if small:
            try:
                got = dict(zip([f.key for f in small], self.client.gather(small)))
            except Exception as e:  # noqa: BLE001 - they stay remote
                log.debug("pydron: Dask gather of small results failed: %s", e)
        end = time.monotonic_ns()
        for fut, (job, outs, prefix) in done:
            if fut.status == "finished":
                r = got.get(fut.key)
                for i, vid in enumerate(outs):
                    if r is not None:
                        job.set_output_bytes(i, r if len(outs) == 1 else r[i])
                        self._vals.pop(vid, None)  # the driver's now: Dask may forget it
                    else:
                        job.set_output_remote(i, 0, nbytes.get(fut.key, 0))
                        note = notes.get(fut.key)
                        if note is not None and len(outs) == 1:
                            job.set_output_note(0, note)
                d = self._dur.get(prefix)
                if d is not None:
                    # Dask's mean for this function: the driver's adaptive
                    # granularity batches tiny calls with it (the driver's clock)
                    job.set_times(end - max(1, int(d * 1e9)), end)
                job.done(0)
            else:
                self._failed(fut, job, outs)

    def _failed(self, fut, job, outs):
        st = fut.status
        for vid in outs:
            self._vals.pop(vid, None)
        if job.canceled():
            job.done(ECANCELED)
            return
        if st == "error":
            try:
                exc = fut.exception(timeout=30)
            except Exception as e:  # noqa: BLE001
                exc = e
            if isinstance(exc, _core.TaskFailed) and len(exc.args) >= 2:
                job.set_error(str(exc.args[0]), exc.args[1])
            else:
                # Dask's own reason (KilledWorker: it ran out of workers to try)
                job.set_error(f"the Dask task failed: {type(exc).__name__}: {exc}",
                              _serialize.encode_exception(exc))
            job.done(ETASK)
            return
        job.set_error(f"the Dask task was {st}")
        job.done(EIO)

    def _fetch(self, wanted):
        futs = [e[0] for _, e in wanted if e is not None]
        try:
            got = self.client.gather(futs, errors="raise") if futs else []
        except Exception as e:  # noqa: BLE001 - each one is reported lost
            log.debug("pydron: Dask gather failed: %s", e)
            got = None
        b = self.bridge
        if b is None:
            return
        k = 0
        for vid, e in wanted:
            if e is None or got is None:
                b.fetched(vid, EIO, None)
                continue
            r = got[k]
            k += 1
            b.fetched(vid, 0, r if e[1] < 0 else r[e[1]])

    # -- called by the core (pyexec.c op_stop), GIL held -------------------------
    def stop(self):
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
        self._thread = None
        futs = []
        for job, outs, _ in self._jobs.values():
            job.done(ECANCELED)
        for key in list(self._jobs):
            futs.append(key)
        self._jobs.clear()
        self._fetcher.shutdown(wait=True)
        if futs:
            try:
                self.client.cancel(futs, force=True)
            except Exception:  # noqa: BLE001 - the cluster may be gone already
                pass
        self._vals.clear()
        self._consts.clear()
        self.bridge = None
        if self._own:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001
                pass
