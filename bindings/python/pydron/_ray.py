"""The Ray executor: ``@functional`` tasks run on an existing Ray cluster.

``configure(executor="ray", address="host:6379")`` (a cluster this host is a
node of, or ``"auto"``), ``address="ray://host:10001"`` (Ray Client) or, with
no address, the Ray the program has already started with ``ray.init`` makes
each pydron task one Ray task. As the Dask executor (``_dask``), this is the
core's executor behind ``Runtime.set_executor``:

* a job becomes ``_run.options(num_returns=n).remote(payload, ...)``, the
  body every engine shares (``_engine._run``). An input made by an earlier
  task is passed as its ObjectRef, so values stay in Ray's object store and
  move between nodes as Ray decides. Driver bytes of at least
  ``SCATTER_MIN`` are put once (``ray.put``) and shared; small ones travel
  inside the task.
* completions: a waiter thread ``ray.wait``s (``fetch_local=False``: nothing
  is pulled to the driver) on the outstanding tasks and posts the finished
  ones to the executor thread. Results up to ``INLINE_MAX`` (sizes the
  driver's Ray knows without a call) come to the driver at once; larger ones
  stay in the object store until the driver reads them (``fetch``: a
  ``ray.get`` on a helper thread). ``release`` drops the ref, so Ray frees
  the value.
* what a task printed, logged and warned travels with its result; a task of
  one output returns it a second time as its first return, the note
  (``_engine._run_noted``: Ray has no task metadata, as Dask's, to carry
  it), read with the completion, so a large result that the program never
  reads still shows its task's output at its turn.
* a failed task is the task's own exception (``TaskFailed`` from
  ``run_task``, the ``cause`` of Ray's ``RayTaskError``), shown by the driver
  exactly as on the other executors.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import queue
import threading

from . import _core, _serialize
from ._engine import (BridgeLoop, ECANCELED, EIO, ETASK, INLINE_MAX, LABELS, SCATTER_MIN, _run,
                      _run_noted, worker_info)

log = logging.getLogger("pydron")

_CONST_KEEP = 512  # driver values put in the object store and kept (newest win)


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError("the ray executor needs Ray on the driver: pip install ray") from None
    return ray


def connect(address=None):
    """Connect to the Ray cluster; True when pydron called ray.init (and
    calls ray.shutdown when the session stops)."""
    ray = _ray()
    if ray.is_initialized():
        return False  # the program's own ray.init: its cluster, left running
    if not address:
        raise ValueError("the ray executor needs the Ray cluster's address "
                         "(configure(executor='ray', address='host:6379' or 'auto' or "
                         "'ray://host:10001'), or PYDRON_ADDRESS) or ray.init() called first")
    try:
        # the tasks' output and log records reach the driver through pydron,
        # not Ray's log forwarding (which would add lines to the program's output)
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, OSError, RuntimeError) as e:
        raise _core.TransportError(f"cannot reach the Ray cluster at {address}: "
                                   f"{type(e).__name__}: {e}") from None
    return True


def check_workers(ray, timeout=60):
    """A Ray worker must run this pydron (and Python, cloudpickle): a clear
    error naming both versions, not failing tasks. (One task: Ray starts its
    workers from the same environment on every node.)"""
    mine = worker_info()
    try:
        info = ray.get(ray.remote(worker_info).options(num_cpus=0).remote(), timeout=timeout)
    except ray.exceptions.GetTimeoutError:
        log.warning("pydron: no Ray worker answered in %d s; tasks wait for one", timeout)
        return None
    except ray.exceptions.RayError as e:
        cause = getattr(e, "cause", e)
        raise _core.StateError(f"a Ray worker cannot run pydron ({type(cause).__name__}: "
                               f"{cause}): install pydron {mine['pydron']} where the Ray "
                               f"workers run") from None
    for k, v in mine.items():
        if info.get(k) != v:
            raise _core.StateError(f"a Ray worker has {k} {info.get(k)}, the driver has {v}: "
                                   f"install the same version on both")
    return info


class RayExecutor(BridgeLoop):
    """The executor object behind Runtime.set_executor for one Session."""

    def __init__(self, own):
        self.ray = ray = _ray()
        self._own = own
        self._remote = ray.remote(_run)
        self._noted = ray.remote(_run_noted)
        self._vals: dict = {}  # value id -> ObjectRef
        self._consts: collections.OrderedDict = collections.OrderedDict()  # value id -> ref
        # first ObjectRef of a task -> (job, outputs, refs, note's ref or None)
        self._jobs: dict = {}
        self._new: queue.SimpleQueue = queue.SimpleQueue()  # refs for the waiter
        self._fetcher = concurrent.futures.ThreadPoolExecutor(2, "pydron-ray-fetch")
        self._stopping = False
        # bytes the driver sent to Ray (task arguments, puts) and got back
        self.bytes_sent = self.bytes_got = 0
        self._thread = self._waiter = None
        self.bridge = None

    def attach(self, rt):
        ncpu = int(self.ray.cluster_resources().get("CPU", 1)) or 1
        # one location (the cluster): Ray places the tasks
        self.bridge = rt.set_executor(self, 1, max(1024, 32 * ncpu))
        self._thread = threading.Thread(target=self._loop, name="pydron-ray", daemon=True)
        self._waiter = threading.Thread(target=self._wait, name="pydron-ray-wait", daemon=True)
        self._thread.start()
        self._waiter.start()

    def _const(self, vid, data):
        ref = self._consts.get(vid)
        if ref is None:
            ref = self._consts[vid] = self.ray.put(bytes(data))
            self.bytes_sent += len(data)
            while len(self._consts) > _CONST_KEEP:
                self._consts.popitem(last=False)
        else:
            self._consts.move_to_end(vid)
        return ref

    def _submit(self, jobs):
        for job in jobs:
            try:
                payload = job.payload()
                self.bytes_sent += len(payload)
                vals = []
                for vid, where, data in job.inputs():
                    if where < 0:
                        if len(data) >= SCATTER_MIN:
                            vals.append(self._const(vid, data))
                        else:
                            vals.append(bytes(data))
                            self.bytes_sent += len(data)
                        continue
                    ref = self._vals.get(vid)
                    if ref is None:
                        raise LookupError(f"input value {vid} is not on the Ray cluster")
                    vals.append(ref)
                outs = job.outputs()
                n = len(outs)
                fkey = _serialize.HDR.unpack_from(payload, 0)[0]
                name = LABELS.get(fkey, "pydron.task")
                specs = (-1,) * len(vals)
                note = None
                if n == 1:
                    note, ref = self._noted.options(num_returns=2, name=name) \
                        .remote(bytes(payload), specs, *vals)
                    refs = [ref]
                else:
                    refs = self._remote.options(num_returns=n, name=name) \
                        .remote(bytes(payload), n, specs, *vals)
            except Exception as e:  # noqa: BLE001 - the job fails with the reason
                job.set_error(f"pydron: the Ray executor cannot submit the task: "
                              f"{type(e).__name__}: {e}")
                job.done(EIO if isinstance(e, (LookupError, OSError)) else ETASK)
                continue
            for vid, ref in zip(outs, refs):
                self._vals[vid] = ref
            self._jobs[refs[0]] = (job, outs, refs, note)
            self._new.put(refs[0])

    # -- the waiter thread -------------------------------------------------------
    def _wait(self):
        """Post every task that ended (its first return is ready or failed) to
        the executor thread, without pulling its values to the driver."""
        ray = self.ray
        pending = []
        while not self._stopping:
            try:
                pending.append(self._new.get(timeout=0.2) if not pending
                               else self._new.get_nowait())
                while True:
                    pending.append(self._new.get_nowait())
            except queue.Empty:
                pass
            if not pending:
                continue
            try:
                ready, pending = ray.wait(pending, num_returns=1, timeout=0.01,
                                          fetch_local=False)
                if ready and pending:  # and all the others that ended meanwhile
                    more, pending = ray.wait(pending, num_returns=len(pending), timeout=0,
                                             fetch_local=False)
                    ready += more
            except Exception as e:  # noqa: BLE001 - Ray is gone (shutdown at exit)
                log.debug("pydron: ray.wait failed: %s", e)
                return
            b = self.bridge
            if b is not None:
                for ref in ready:
                    b.post(ref)

    # -- back on the executor thread -----------------------------------------------
    def _finished(self, refs):
        ray = self.ray
        done = []
        for ref in refs:
            ent = self._jobs.pop(ref, None)
            if ent is not None:
                done.append(ent)
        try:  # what the driver's Ray knows already (it owns the returns): no call
            sizes = ray.experimental.get_local_object_locations(
                [r for _, _, rs, _ in done for r in rs])
        except Exception as e:  # noqa: BLE001 - then every value is read at once
            log.debug("pydron: Ray object sizes unavailable: %s", e)
            sizes = {}
        for job, outs, rs, note in done:
            small = []
            for r in rs:
                sz = (sizes.get(r) or {}).get("object_size")
                small.append(sz is None or sz <= INLINE_MAX)
            # the note is read with the completion (small: b"" unless the
            # result is large, and an error object when the task failed,
            # which Ray reports as unhandled if it is never read); a result
            # left in the object store shows its task's output by it
            try:
                # a failed task's returns are small error objects: read at once
                want = [r for r, s in zip(rs, small) if s]
                if note is not None:
                    want.append(note)
                got = ray.get(want) if want else []
            except ray.exceptions.RayError as e:
                self._failed(e, job, outs)
                continue
            if note is not None:
                note = got.pop()
            got = iter(got)
            for i, (vid, r, s) in enumerate(zip(outs, rs, small)):
                if s:
                    r = next(got)
                    self.bytes_got += len(r)
                    job.set_output_bytes(i, r)
                    self._vals.pop(vid, None)  # the driver's now: Ray may free it
                else:
                    job.set_output_remote(i, 0, (sizes.get(r) or {}).get("object_size") or 0)
            if note and not small[0]:  # after set_output_remote, as the core asks
                self.bytes_got += len(note)
                try:
                    job.set_output_note(0, note)
                except ValueError:  # over PYDRON_NOTE_MAX: the bytes carry it
                    pass
            job.done(0)

    def _failed(self, exc, job, outs):
        for vid in outs:
            self._vals.pop(vid, None)
        if job.canceled():
            job.done(ECANCELED)
            return
        cause = getattr(exc, "cause", None)
        if isinstance(cause, _core.TaskFailed) and len(cause.args) >= 2:
            job.set_error(str(cause.args[0]), cause.args[1])
        else:
            # Ray's own reason (a worker that died more often than Ray retries)
            job.set_error(f"the Ray task failed: {type(exc).__name__}: {exc}",
                          _serialize.encode_exception(exc))
        job.done(ETASK)

    def _fetch(self, wanted):
        b = self.bridge
        for vid, ref in wanted:
            if ref is None:
                r, rc = None, EIO
            else:
                try:
                    r, rc = self.ray.get(ref), 0
                    self.bytes_got += len(r)
                except Exception as e:  # noqa: BLE001 - reported lost
                    log.debug("pydron: ray.get of value %s failed: %s", vid, e)
                    r, rc = None, EIO
            if b is not None:
                b.fetched(vid, rc, r)

    # -- called by the core (pyexec.c op_stop), GIL held -------------------------
    def stop(self):
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
        self._thread = None
        self._stopping = True
        if self._waiter is not None:
            self._waiter.join()
            self._waiter = None
        refs = list(self._jobs)
        for job, _, _, _ in self._jobs.values():
            job.done(ECANCELED)
        self._jobs.clear()
        self._fetcher.shutdown(wait=True)
        for ref in refs:
            try:
                self.ray.cancel(ref)
            except Exception:  # noqa: BLE001 - ended meanwhile, or Ray is gone
                pass
        self._vals.clear()
        self._consts.clear()
        self.bridge = None
        if self._own:
            try:
                self.ray.shutdown()
            except Exception:  # noqa: BLE001
                pass
