"""The interface the translator uses: ``session()``, ``Session``, ``Future``.

A Session owns one libpydron runtime and one long-lived graph. ``submit``
pickles the arguments at once (snapshot semantics), turns Futures found in
them into task inputs and adds one pure task of kind "python".
"""

from __future__ import annotations

import atexit
import collections
import itertools
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import weakref

from . import _core, _purity, _serialize, _settings, _state, _view
from ._serialize import BATCH_M, BATCH_N, F_BATCH, F_CHECK, F_CODE, F_FN_INPUT, F_SLOW, HDR, MAIN

log = logging.getLogger("pydron")

# Function keys name a function version in workers' caches. Workers of the
# Dask executor (and remote workers) outlive a session and serve several
# programs: keys start at a random base per driver process, so that another
# program's key 1 is never taken for this one's.
_keys = itertools.count((int.from_bytes(os.urandom(4), "little") << 32) | 1)
_KEEP_VERSIONS = 20_000  # superseded in-process function versions kept (> WINDOW)
_CLASS_VERSIONS_MAX = 512  # current class versions a session keeps

# Adaptive granularity: calls of a function whose tasks are measured to run
# far below the per-task cost are gathered into one batch task (one output per
# call) of about BATCH_SECONDS of work, at most BATCH_MAX calls. Until a
# function's duration is known its calls go one task each; a function of
# seconds keeps one task per call.
BATCH_SECONDS = 1e-3
BATCH_MAX = 256
# Large argument buffers (>= _SHARE_MIN) keep their constant for reuse by the
# next calls given the same unchanged memory: at most _SHARE_KEEP of them and
# _SHARE_BYTES in all (the newest win).
_SHARE_MIN = 1 << 20
_SHARE_KEEP = 8
_SHARE_BYTES = 256 << 20
_NO_WATCH = 64  # _Const.strikes of memory that cannot be watched


class _Const:
    """A large argument's snapshot, kept for the next call given the same
    memory (Session._constant)."""

    __slots__ = ("value", "obj", "epoch", "watch", "strikes", "calm")

    def __init__(self, value, obj, epoch, strikes):
        self.value = value      # the graph constant
        self.obj = obj          # the buffer's object, kept alive
        self.epoch = epoch      # _state.EPOCH when last found unchanged
        self.watch = None       # _core.WriteWatch while watched
        self.strikes = strikes  # changes found while watched (_NO_WATCH: never watch)
        self.calm = 0           # unchanged checks since the snapshot

    def forget(self):
        if self.watch is not None:
            self.watch.stop()
            self.watch = None


class _HasFuture(Exception):
    """Raised by Future.__reduce_ex__ so that the fast plain-pickle path
    falls back to the pickler that maps Futures to task inputs."""


_NOVALUE = object()
_IMMUTABLE = frozenset([int, float, complex, bool, str, bytes, type(None), range, type(Ellipsis)])


def _immutable(v, depth=0):
    t = type(v)
    if t in _IMMUTABLE:
        return True
    if (t is tuple or t is frozenset) and depth < 4:
        return all(_immutable(x, depth + 1) for x in v)
    return False


# Categories of values whose methods and dunders pydron knows to be free of
# effects: "nd" (numpy arrays and scalars), "num", "str", "seq" (list/tuple of
# such items), "map" (a dict of such values under str or int keys: a task's
# {"period": p, "power": w}), "none". The driver may run statements that look at a value of
# these categories later, in program order, instead of waiting for it now
# (see _runtime's deferred operations). Each @functional function's last
# result category is remembered: feedback, like a JIT's type profile.
_NUM = frozenset([int, float, complex, bool])
_STR = frozenset([str, bytes])
_MAP_KEYS = frozenset([str, int])   # hashing and comparing them runs no code of the program
RESULT_CATS: dict = {}  # function -> category of its last result seen by the driver
RESULT_BYTES: dict = {}  # function -> size of its last result (the look-ahead's byte budget)


def _result_bytes(fn):
    try:
        return RESULT_BYTES.get(fn, 0)
    except TypeError:  # unhashable callable
        return 0


def category(v, depth=0):
    t = type(v)
    if t in _NUM:
        return "num"
    if t in _STR:
        return "str"
    if v is None:
        return "none"
    if t.__module__ == "numpy" and (t.__name__ == "ndarray" or hasattr(v, "dtype")):
        return "nd" if v.dtype.hasobject is False else None
    if (t is tuple or t is list) and depth < 2 and len(v) <= 64:
        return "seq" if all(category(x, depth + 1) is not None for x in v) else None
    if t is dict and depth < 2 and len(v) <= 64:
        return "map" if all(type(k) in _MAP_KEYS and category(x, depth + 1) is not None
                            for k, x in v.items()) else None
    return None


_ANNOTATED: dict = {}
_ANN_NAMES = {"float": "num", "int": "num", "complex": "num", "bool": "num", "str": "str",
              "bytes": "str", "None": "none", "ndarray": "nd", "np.ndarray": "nd",
              "numpy.ndarray": "nd", "np.float64": "nd", "numpy.float64": "nd"}


def annotated_category(fn):
    """Category promised by `def f(...) -> float` (or np.ndarray, str, ...):
    lets the driver defer reading the first result too, before any feedback.
    The annotation is trusted, as a type checker would."""
    try:
        return _ANNOTATED[fn]
    except (KeyError, TypeError):
        pass
    c = None
    try:
        ann = getattr(fn, "__annotations__", {}).get("return")
    except Exception:  # noqa: BLE001 - odd callables have no usable annotations
        ann = None
    if isinstance(ann, str):
        c = _ANN_NAMES.get(ann.strip())
    elif ann is None and "return" in getattr(fn, "__annotations__", {}):
        c = "none"
    elif isinstance(ann, type):
        if ann in _NUM:
            c = "num"
        elif ann in _STR:
            c = "str"
        elif ann.__module__ == "numpy" and (ann.__name__ == "ndarray" or hasattr(ann, "dtype")):
            c = "nd"
    if len(_ANNOTATED) > 4096:
        _ANNOTATED.clear()
    try:
        _ANNOTATED[fn] = c
    except TypeError:
        pass
    return c


class Future:
    """Placeholder for the result of a task. Cheap to create."""

    # _site: where the driver called it (set by the runtime, read with getattr)
    __slots__ = ("_v", "_fn", "_r", "_x", "_q", "_a", "_b", "_l", "_n", "_site", "_o",
                 "__weakref__")

    def __init__(self, v, fn):
        self._v = v      # _core.Value: one reference on the graph value
        self._b = None   # the batch still being filled that will hold this call
        # (id of the list, index) where the program appended it: once it has finished
        # with an immutable value, the value takes its place there (the
        # placeholder and its graph value are freed: flat driver memory)
        self._l = None
        self._n = 0      # bytes it holds while pending: arguments + expected result
        self._fn = fn
        self._r = None   # (True, value) once fetched, (False, (message, detail)) if failed
        self._x = False  # the value was handed to driver code (which may change it)
        self._q = 0      # program-order number of the last deferred operation reading it
        # Set by the runtime when a deferred operation may hand out part of it
        # (x.T, x[0]): the function that runs every deferred operation first.
        self._a = None
        # What the task printed and logged, when its result was read before an
        # earlier task's: handed on when it leaves the pending queue, in
        # program order (_serialize._hand_on, barriers._pop_front).
        self._o = None

    def __reduce_ex__(self, protocol):
        try:
            v = self._driver_value()
        except BaseException as e:
            _state.RAISING = e  # (see _state.RAISING)
            raise
        if v is not _NOVALUE:
            return (_serialize.identity, (v,))
        raise _HasFuture()

    def _driver_value(self):
        """The driver's object for this result once driver code has been handed
        it and may have changed it (a method, an item store): later tasks must
        see that object, not the task's original output. _NOVALUE when the
        graph value still stands for it (never handed out, failed, immutable)."""
        if self._a is not None:
            # Views or items of it were handed out by deferred operations and
            # may be changed by statements before this point: run them all.
            self._a()
            self._x = True
            if self._r is None:
                self._wait(None)
        r = self._r
        if not self._x or r is None or not r[0] or _immutable(r[1]):
            return _NOVALUE
        return r[1]

    def __repr__(self):
        name = getattr(self._fn, "__qualname__", repr(self._fn))
        if self._r is not None:
            st = "finished" if self._r[0] else "failed"
        else:
            st = "finished" if self._v is not None and self._v.done() else "pending"
        return f"<pydron Future {name}() {st}>"

    def _val(self):
        """The graph value; a call still in the batch being filled sends the
        batch now."""
        v = self._v
        if v is None and self._b is not None:
            self._b.flush()
            v = self._v
        return v

    def done(self) -> bool:
        # a call in a batch not sent yet is not done
        return self._r is not None or (self._v is not None and self._v.done())

    def _wait(self, timeout):
        val = self._val()
        try:
            val.wait(timeout)
        except _core.TaskError as e:
            self._r = (False, (e.args[0], e.args[1]))
            _serialize.forward_failure_logs(e.args[1], self)
            return self._r
        return self._decoded(val, _serialize.decode_result(val, True, fut=self))

    def _decoded(self, val, v):
        """Record the decoded result v of graph value val (the C fast path,
        pydron._core.settle_ready, calls this for what it does not record
        itself)."""
        if type(v) is _serialize._MemberFailed:  # this call of a batch raised
            self._r = (False, (v.message, v.detail))
            _serialize.forward_failure_logs(v.detail, self)
            return self._r
        self._r = (True, v)
        if len(RESULT_BYTES) > 4096:
            RESULT_BYTES.clear()
        try:
            RESULT_BYTES[self._fn] = val.size()
        except (_core.PydronError, TypeError):
            pass
        if len(RESULT_CATS) > 4096:  # functions made on the fly: keep it bounded
            RESULT_CATS.clear()
        RESULT_CATS[self._fn] = category(v)
        return self._r

    def category(self):
        """Expected category of the value (feedback, else the function's return
        annotation), None if unknown."""
        r = self._r
        if r is not None:
            return category(r[1]) if r[0] else None
        fn = self._fn
        c = RESULT_CATS.get(fn, _NOVALUE)
        return annotated_category(fn) if c is _NOVALUE else c

    def result(self, timeout=None):
        """The task's value, or raise its original exception (a fresh copy,
        whose traceback ends with the task's frames)."""
        r = self._r or self._wait(timeout)
        if r[0]:
            self._x = True
            return r[1]
        raise _serialize.decode_exception(*r[1], self._fn)

    def peek(self):
        """The value for a deferred operation, which only reads it: unlike
        result(), later tasks given this Future still take the graph value."""
        r = self._r or self._wait(None)
        if r[0]:
            return r[1]
        raise _serialize.decode_exception(*r[1], self._fn)

    def exception(self, timeout=None):
        r = self._r
        if r is None:
            if self._b is not _MEMBER and self._ok_in_place(timeout):
                return None
            r = self._wait(timeout)
        return None if r[0] else _serialize.decode_exception(*r[1], self._fn)

    def _show_note(self, val):
        """Hand on what the task printed, logged and warned, from the note
        that came with its completion (_serialize._note), once."""
        try:
            note = val.note()
        except (_core.PydronError, TypeError):
            return
        if note is None or self in _serialize._SHOWN:
            return
        recs, notes = _serialize.decode_result(note, True)
        _serialize._SHOWN.add(self)
        if recs:
            _serialize._hand_on(recs, self)
        if notes:
            from . import _purity

            _purity.report_mutations(notes)

    def _ok_in_place(self, timeout):
        """True when the task finished well and its value is too large to
        have come back with its completion: it stays on the worker that made
        it, and a barrier, which only needs the status, does not pull its
        bytes to the driver (result() does, when the program reads it).
        Members of a batch are not asked: a member's failure is in its bytes."""
        val = self._val()
        try:
            val.wait(timeout)
        except _core.TaskError:
            return False  # _wait records the failure
        try:
            n = val.size()
        except (_core.PydronError, TypeError):
            return False
        if n <= INLINE_MAX:
            return False  # already on the driver: decoding it costs nothing
        if len(RESULT_BYTES) > 4096:
            RESULT_BYTES.clear()
        RESULT_BYTES[self._fn] = n
        # What the task printed or logged travels with its bytes (a _Logged
        # pickle). Where the bytes are here (the executors that run tasks in
        # this process, results an engine sent whole), one that carries
        # records is decoded now, in its turn, and its output comes. Bytes
        # that stay on their worker came with a note of the records: shown now.
        head = val.head(256)
        if head is None:
            self._show_note(val)
            return True
        return b"_Logged" not in head


def _describe_arg(fn, args, kwargs, err):
    """TypeError naming the function and the argument that cannot be pickled."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    try:
        import inspect

        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    for i, a in enumerate(args):
        try:
            _dumps_probe(a)
        except Exception as e:  # noqa: BLE001 - reported to the user
            pname = params[i] if i < len(params) else f"#{i}"
            return TypeError(f"{name}(): argument '{pname}' (position {i}) cannot be pickled: "
                             f"{type(e).__name__}: {e}")
    for k, a in kwargs.items():
        try:
            _dumps_probe(a)
        except Exception as e:  # noqa: BLE001
            return TypeError(f"{name}(): argument '{k}' cannot be pickled: {type(e).__name__}: {e}")
    return TypeError(f"{name}(): arguments cannot be pickled: {type(err).__name__}: {err}")


class _Probe(pickle.Pickler):
    def persistent_id(self, obj):
        return 0 if type(obj) is Future else None


def _dumps_probe(obj):
    import io

    try:
        _Probe(io.BytesIO(), 5).dump(obj)
    except Exception:
        p = _serialize.args_pickler()(io.BytesIO(), 5)
        p.persistent_id = lambda o: 0 if type(o) is Future else None
        p.dump(obj)


class _ClassVersion:
    """A version of a by-value class: its key, the class (weakly), what its
    pickle carried (ClassState), and the graph constant of that pickle
    (worker processes) or the copy made from it (in process)."""

    __slots__ = ("key", "ref", "st", "value", "copy")

    def __init__(self, key, ref, st, value, copy):
        self.key, self.ref, self.st, self.value, self.copy = key, ref, st, value, copy


class _Batch:
    """Calls of one function version gathered into one task (one output
    each). Each call's arguments were pickled when it was made (snapshot);
    flush adds the task and hands each call's Future its own value."""

    __slots__ = ("s", "ent", "heads", "datas", "inputs", "futs", "waits")

    def __init__(self, s, ent):
        self.s, self.ent = s, ent
        self.heads, self.datas, self.futs = [], [], []
        self.inputs = list(ent[2])
        self.waits = ()  # the batches being filled that hold placeholders among inputs

    def add(self, fut, data, nfut, inputs, local=False):
        self.futs.append(fut)
        self.heads.append(BATCH_M.pack(_serialize.M_LOCAL if local else 0, nfut, len(data)))
        self.datas.append(data)
        if inputs:
            self.inputs.extend(inputs)
            for x in inputs:
                if type(x) is Future and x._b not in self.waits:
                    self.waits = self.waits + (x._b,)

    def waits_for(self, other):
        """Is this batch (through the batches it waits for) waiting for other?"""
        if other is None:
            return False
        todo, seen = [self], set()
        while todo:
            b = todo.pop()
            if b is other:
                return True
            if id(b) not in seen:
                seen.add(id(b))
                todo.extend(b.waits)
        return False

    def flush(self):
        s = self.s
        if s._opens.get(self.ent[0]) is self:
            del s._opens[self.ent[0]]
        futs, self.futs = self.futs, []
        if not futs:
            return
        ent, n = self.ent, len(futs)
        g = s._graph
        fn = futs[0]._fn
        label = getattr(fn, "__qualname__", None) or type(fn).__name__
        try:
            if self.waits:
                # placeholders that were in another batch being filled when
                # their call was made: their values now (that batch is sent first)
                self.waits = ()
                self.inputs = [_values((x,), g)[0] if type(x) is Future else x
                               for x in self.inputs]
            # a batch even of one call: a call's failure is in its result
            # bytes, not a failure of the graph value, so that a batch given
            # it fails that call alone (a batch whose input failed would fail
            # every call in it; see _alone_unsettled)
            payload = b"".join([HDR.pack(ent[0], ent[1] | F_BATCH, 0, 0), BATCH_N.pack(n)]
                               + self.heads + self.datas)
            vals = g.task(s._kind, payload, self.inputs, noutputs=n, label=label)
            if n == 1:
                vals = (vals,)
        except BaseException as e:
            err = _FailedBatch(e)
            for f in futs:
                f._b = err
            raise
        # for f, v in zip(futs, vals): f._v = v; f._b = member - in C (a
        # batch holds hundreds of calls of a few microseconds each)
        _core.bind_batch(futs, vals, _MEMBER)
        st = s._dur.get(id(futs[0]._fn))
        if st is not None and not s._in_process:
            st[2] += 1
            if st[2] & 7 == 2 and len(st[1]) < 8:
                st[1].append((vals[0], n))  # its run time tells how long a call takes
        self.heads = self.datas = self.inputs = None


# Batches being filled at once (one per function) before the oldest is sent.
_OPEN_MAX = 8


def _values(futs, g):
    """The graph values of placeholders futs (a batch being filled that holds
    one is sent first), all of graph g."""
    vals = tuple(f._val() if type(f) is Future else f for f in futs)
    for v in vals:
        if v.graph is not g:
            raise _core.StateError("a Future from another pydron session was passed")
    return vals


def _label(fn):
    """The task's label: names it in the trace, DOT and timings (libpydron
    keeps one copy per distinct label). Computed only for tasks added now, not
    for calls gathered into a batch (the batch is labelled when sent)."""
    return getattr(fn, "__qualname__", None) or type(fn).__name__


class _Member:
    """Future._b of a call sent in a batch: its failure is recorded in its
    value's bytes, so its status needs them."""

    __slots__ = ()

    def flush(self):
        pass


_MEMBER = _Member()


def _no_pid(obj):
    return None


def _main_arg(args, kwargs):
    """An argument is an object of a class of __main__ (settings handed to
    every call): the call's pickle is _dumps_with_futures' (its class as a
    version), and the plain one, tried first otherwise, would be made only
    to be thrown away."""
    for a in args:
        if type(a).__module__ == "__main__":
            return True
    if kwargs:
        for a in kwargs.values():
            if type(a).__module__ == "__main__":
                return True
    return False


def _alone_unsettled(f):
    """A placeholder of a task of its own (not a call of a batch: a call's
    failure is in its own result bytes) that has not succeeded yet."""
    return type(f) is Future and f._b is None and not (f._r is not None and f._r[0])
# Results up to this size come back inside their completion (the process
# executors' inline limit); larger ones stay on their worker until read.
INLINE_MAX = 4096


class _FailedBatch:
    """A batch that could not be added: its calls raise that error."""

    __slots__ = ("exc",)

    def __init__(self, exc):
        self.exc = exc

    def flush(self):
        raise self.exc


class Session:
    """One runtime + one graph; created by session() on first use."""

    def __init__(self, executor="threads", workers=0, policy=None, address=None, secret=None,
                 max_retries=0, heartbeat_ms=0, worker_wait_timeout=None, view=None,
                 tls_cert=None, tls_key=None, client=None, launch=None, window=0):
        self.executor = executor
        self._started = time.monotonic()
        view = view or {}
        kw = dict(executor=executor, workers=int(workers or 0), runner=_serialize.run_task,
                  max_retries=int(max_retries or 0))
        if heartbeat_ms:
            kw["heartbeat_ms"] = int(heartbeat_ms)
        if window:
            kw["in_flight"] = int(window)  # fixed; 0: measured (process executors)
        if worker_wait_timeout is not None and executor in ("local", "remote"):
            # seconds; at least 1 ms (0 would mean the library default)
            kw["worker_wait_ms"] = max(1, int(float(worker_wait_timeout) * 1000))
        if policy:
            kw["policy"] = policy
        if executor in ("local", "remote"):
            kw["worker_command"] = sys.executable
            # Workers import what the driver can import (script directory,
            # pytest's rootdir, a build tree on sys.path, ...).
            path = os.pathsep.join(p for p in sys.path if p)
            kw["worker_args"] = ["-m", "pydron.worker", "--path", path]
        if executor == "remote":
            if address:
                kw["listen_url"] = address
            if secret:
                kw["secret"] = secret
            if tls_cert:
                kw["tls_cert_file"] = tls_cert
                kw["tls_key_file"] = tls_key
            # a C pydron-worker has no Python runner: refused at its handshake
            kw["required_kinds"] = ["python"]
            launch = launch or {}
            if launch.get("cluster"):
                kw["cluster"] = launch["cluster"]
            if launch.get("hosts"):
                kw["launch_hosts"] = list(launch["hosts"])
            if launch.get("launch_command"):
                kw["launch_command"] = launch["launch_command"]
            if launch.get("launch_args"):
                kw["launch_args"] = list(launch["launch_args"])
            if launch.get("join_timeout"):
                kw["join_timeout_ms"] = max(1, int(launch["join_timeout"] * 1000))
            if launch.get("restarts") is not None:
                kw["worker_restarts"] = int(launch["restarts"])
        engine = None  # the Dask or Ray executor object
        if executor == "dask":
            from . import _dask

            # the core with a Python executor in front of the Dask cluster
            kw["executor"] = "inline"
            dask_client, own = _dask.connect(address, client)
            try:
                _dask.check_workers(dask_client)
            except BaseException:
                if own:
                    dask_client.close()
                raise
            engine = _dask.DaskExecutor(dask_client, own)
        elif executor == "ray":
            from . import _ray

            kw["executor"] = "inline"  # the core with a Python executor in front of Ray
            own = _ray.connect(address)
            try:
                _ray.check_workers(_ray._ray())
                engine = _ray.RayExecutor(own)
            except BaseException:
                if own:
                    _ray._ray().shutdown()
                raise
        self._rt = _core.Runtime(**kw)
        self._engine = engine
        if engine is not None:
            engine.attach(self._rt)
        # remote, Dask and Ray workers may not see the program's files: its
        # modules travel with the tasks (see _ship)
        self._ship = None
        if executor in ("remote", "dask", "ray"):
            from . import _ship

            self._ship = _ship.Shipper()
        self._codes: dict = {}  # bundle hash -> its graph constant
        self._graph = _core.Graph(self._rt)
        self._kind = self._rt.python_kind
        self._in_process = executor in ("inline", "threads")
        _serialize.IN_DRIVER = True
        self._fcache: dict = {}
        # in-process: function versions in _serialize._FUNCS (current ones in
        # _fcache, superseded ones here, dropped once far behind)
        self._old_keys: collections.deque = collections.deque()
        # id(class) -> _ClassVersion: the current version of each by-value
        # class the arguments carried (see _serialize.CLASS_COPIES)
        self._cvers: dict = {}
        self._cmark = None  # in process: the input standing for class versions
        self._pks: list = []  # the argument pickler, reused (_plain_dump)
        self._check = F_CHECK if _purity.check_mode() else 0
        if self._in_process:
            _settings.install_collect()
        self._closed = False
        if view.get("trace") and not _core.trace_active():
            _core.trace_start(view["trace"])
        # function version key -> _Batch being filled (one per function: a
        # pipeline per item, b = g(f(i)), fills both; at most _OPEN_MAX)
        self._opens: dict = {}
        # (address, length) -> _Const (the snapshot of a large argument); newest last
        self._consts: dict = {}
        self._dur: dict = {}  # id(fn) -> [seconds per call, probe Value, calls in it]
        self._graph.start()  # starts the executor (workers) now, so failures show here
        if view.get("graph"):  # the whole run's graph, for PYDRON_GRAPH at exit
            self._graph.record(_view.GRAPH_MAX_TASKS)
        self._progress = None
        if _view.progress_wanted(view.get("progress"), sys.stderr):
            self._progress = _view.Progress(self._graph)

    # -- functions -----------------------------------------------------------
    def _fn_entry(self, fn):
        """(key, flags, inputs, ...) of the function's version for a call now:
        pickled once per version, a new version when the globals it reads
        or the process settings changed since the last one (see _state)."""
        gen, snap = _settings.settings()
        ent = self._fcache.get(id(fn))
        if ent is not None and (ent[3]() if ent[4] else ent[3]) is fn and ent[6] == gen \
                and (ent[5] is None or not ent[5].changed()):
            if ent[5] is not None and ent[5].rngs:  # same generator state again
                _purity.rng_global(fn, ent[5].rngs)
            return ent
        key = next(_keys)
        fst = _state.fn_state(fn)
        if self._in_process:
            # Same process: the runner finds the function object by its key;
            # a copy holding its globals as of now if it reads any.
            run = fn
            if fst is not None:
                try:
                    known = self._class_copies()
                    (run, _), cmap = _serialize.copy_loads(_state.dumps_function(fn, None, fst),
                                                           known)
                    if cmap:  # its classes are copies too (see _serialize.CLASSMAPS)
                        _serialize.CLASSMAPS[key] = cmap
                        self._adopt_copies(cmap, known)
                except Exception as e:  # noqa: BLE001 - runs with live globals
                    if _state.program_failure(e):
                        raise
                    log.debug("pydron: %r cannot be copied (%s); its task reads the "
                              "globals when it runs", fn, e)
            _serialize._FUNCS[key] = _settings.with_settings(run, snap)
            if ent is not None:
                self._retire(ent[0])
            inputs = ()
            flags = 0
        else:
            try:
                data = _state.dumps_function(fn, snap, fst)
            except Exception as e:
                if _state.program_failure(e):
                    raise
                name = getattr(fn, "__qualname__", repr(fn))
                raise TypeError(f"{name}(): the function cannot be pickled: {type(e).__name__}: {e}") from e
            inputs = (self._graph.constant(data),)
            flags = F_FN_INPUT
            if self._ship is not None:
                code = self._code(data)
                if code is not None:
                    inputs = (code,) + inputs
                    flags |= F_CODE
            if self.executor in ("dask", "ray"):
                from . import _engine

                _engine.label_for(key, fn)
        i = id(fn)
        try:
            ref = weakref.ref(fn, lambda _, i=i, c=self._fcache: c.pop(i, None))
            ent = (key, flags, inputs, ref, True, fst, gen)
        except TypeError:  # builtins: keep them (they live forever anyway)
            ent = (key, flags, inputs, fn, False, fst, gen)
        self._fcache[i] = ent
        return ent

    def _code(self, fn_data):
        """The graph constant of the program's code bundle as of now (one per
        content hash in the session), None when there is nothing to ship."""
        sh = self._ship
        sh.note_and_check(fn_data)
        b = sh.bundle()
        if b is None:
            return None
        h, blob = b
        c = self._codes.get(h)
        if c is None:
            c = self._codes[h] = self._graph.constant(blob)
        return c

    def _retire(self, key):
        """A superseded in-process version: kept while tasks may still use it
        (at most the runtime's window of pending tasks), then dropped."""
        old = self._old_keys
        old.append(key)
        if len(old) > _KEEP_VERSIONS:
            k = old.popleft()
            _serialize._FUNCS.pop(k, None)
            _serialize.CLASSMAPS.pop(k, None)
            _serialize.CLASS_COPIES.pop(k, None)

    # -- classes of arguments --------------------------------------------------
    def _class_version(self, cls):
        """The current version of a class that pickles by value (None: it
        pickles by reference, or cannot be versioned and goes by value in
        each call's pickle, as before)."""
        e = self._cvers.get(id(cls))
        if e is not None and e.ref() is cls and not e.st.changed():
            return e
        if _serialize.by_reference(cls):
            return None
        try:
            st = _state.ClassState(cls)
            data = _state.dumps_class(cls, st)
            if self._in_process:
                known = self._class_copies()
                copy, cmap = _serialize.copy_loads(data, known)
                e = self._new_version(cls, st, None, copy)
                self._adopt_copies(cmap, known)
            else:
                e = self._new_version(cls, st, self._graph.constant(data), None)
        except Exception as exc:  # noqa: BLE001 - by value in each call's pickle
            if _state.program_failure(exc):
                raise
            log.debug("pydron: class %r is not versioned (%s)", cls, exc)
            return None
        return e

    def _new_version(self, cls, st, value, copy):
        i = id(cls)
        old = self._cvers.pop(i, None)
        ref = weakref.ref(cls)
        e = _ClassVersion(next(_keys), ref, st, value, copy)
        if copy is not None:
            _serialize.CLASS_COPIES[e.key] = (ref, copy)  # (not keeping the class alive)
        self._cvers[i] = e  # the newest last
        if old is not None and old.copy is not None:
            self._retire(old.key)
        if len(self._cvers) > _CLASS_VERSIONS_MAX:
            # classes made on the fly (a class statement in a loop): the
            # least recently versioned one goes (its state holds the class)
            gone = self._cvers.pop(next(iter(self._cvers)))
            if gone.copy is not None:
                self._retire(gone.key)
        return e

    def _class_mark(self):
        m = self._cmark
        if m is None:
            m = self._cmark = self._graph.constant(b"")
        return m

    def _class_copies(self):
        """{driver class: copy} of the in-process class versions still current."""
        out = {}
        for e in list(self._cvers.values()):
            cls = e.ref()
            if cls is not None and e.copy is not None and not e.st.changed():
                out[cls] = e.copy
        return out

    def _adopt_copies(self, cmap, known):
        """Copies a load just made (not taken from known): the current
        versions of their classes, so that later arguments get the same copy."""
        for cls, copy in cmap.items():
            e = self._cvers.get(id(cls))
            if known.get(cls) is not copy and not (e is not None and e.copy is copy):
                try:
                    self._new_version(cls, _state.ClassState(cls), None, copy)
                except Exception:  # noqa: BLE001 - not versioned: arguments make their own
                    pass

    # -- tasks ---------------------------------------------------------------
    def submit(self, fn, args: tuple, kwargs: dict) -> Future:
        """Snapshot args/kwargs now and add a task; Futures inside become inputs."""
        if self._closed:
            raise _core.ClosedError("pydron session is closed")
        return self._submit_ent(fn, self._fn_entry(fn), args, kwargs)

    def _submit_ent(self, fn, ent, args, kwargs, k=None, nolocal=False):
        """submit() once the function's version is known; k: the batch size
        if already asked (the C fast path, pydron._core.call, falls back here
        for what it does not take over). nolocal: placeholders of calls in
        the batch this call would join are not named as its members (see
        _local_batch)."""
        bufs = cb = _serialize._OOB()
        futs = local = None
        try:
            if _main_arg(args, kwargs):
                raise _HasFuture  # (its pickle names __main__: the plain one is of no use)
            data = pickle.dumps((args, kwargs), 5, buffer_callback=cb)
            if MAIN in data:
                # objects of __main__ classes: their classes as of the call,
                # one pickle per class version (_class_version); by value if
                # something else of __main__ is inside (no placeholder: the
                # plain pickle would have raised _HasFuture)
                del bufs[:]
                futs = []
                data = self._dumps_with_futures(fn, args, kwargs, bufs, cb, futs)
        except _HasFuture:
            del bufs[:]
            futs = []
            local = None if nolocal else self._local_batch(fn, ent, k)
            data = self._dumps_with_futures(fn, args, kwargs, bufs, cb, futs, local=local)
        except Exception as e:
            if _state.program_failure(e):
                raise
            del bufs[:]
            futs = []
            local = None if nolocal else self._local_batch(fn, ent, k)
            data = self._dumps_with_futures(fn, args, kwargs, bufs, cb, futs, first=e, local=local)
        used = local is not None and local[1]
        if local is not None:
            k = local[2]
        if used:
            if bufs:  # a task of its own after all: its inputs are those calls' values
                return self._submit_ent(fn, ent, args, kwargs, k, True)
        if _purity.RNG_MARK.search(data) is not None:
            for rng, where in _purity.find_generators(args, kwargs, fn):
                _purity.rng_argument(fn, rng, where)
        g = self._graph
        inputs = ent[2]
        if bufs:
            inputs = inputs + tuple(self._constant(pb.raw()) for pb in bufs)
        if k is None and not bufs:
            k = self._batch_size(fn, ent[0]) if not self._check else 1
        if futs and k is not None and k > 1 and any(map(_alone_unsettled, futs)):
            # a task of its own that has not succeeded among the inputs: the
            # batch would be one task given its value, and its failure
            # would fail every call of the batch (only this call's is
            # that failure): a task of its own too
            if used:
                return self._submit_ent(fn, ent, args, kwargs, 1, True)
            k = 1
        if futs:
            if bufs or k <= 1:
                fvals = _values(futs, g)  # sends the batches that hold them
            else:
                # a call that joins a batch: a placeholder still in another
                # function's batch being filled stays one (its value is taken
                # when this call's batch is sent, that batch first), so that a
                # pipeline per item (b = g(f(i))) keeps both batches filling;
                # one in the batch this call joins: that batch goes first
                mine = self._opens.get(ent[0])
                fvals = []
                for f in futs:
                    if type(f) is not Future:  # a class version's constant
                        fvals.append(f)
                        continue
                    fb = f._b
                    if f._v is None and type(fb) is _Batch and fb.s is self \
                            and fb is not mine and not fb.waits_for(mine):
                        fvals.append(f)
                    else:  # (a batch waiting for this one's would wait for itself)
                        fvals.append(_values((f,), g)[0])
                fvals = tuple(fvals)
            inputs = inputs + fvals
        if used and self._opens.get(ent[0]) is not local[0]:
            # that batch was sent meanwhile (a batch holding an input waited
            # for it): its calls are placeholders with values now
            return self._submit_ent(fn, ent, args, kwargs, k, True)
        # F_SLOW: not the plain pickle of plain arguments (classes by value or
        # placeholders may be inside: the task loads it with care)
        flags = ent[1] | self._check | (F_SLOW if futs is not None else 0)
        if bufs:  # large inputs: adding may send them to a worker now
            payload = HDR.pack(ent[0], flags, len(bufs), len(futs) if futs else 0) + data
            f = Future(g.task(self._kind, payload, inputs, label=_label(fn), nogil=True), fn)
            f._n = len(payload) + sum(pb.raw().nbytes for pb in bufs) + _result_bytes(fn)
            return f
        b = self._opens.get(ent[0])
        if b is not None and (k <= 1 or b.ent is not ent):
            b.flush()
            b = None
        if k > 1:
            if b is None:
                if len(self._opens) >= _OPEN_MAX:
                    next(iter(self._opens.values())).flush()  # the oldest
                b = self._opens[ent[0]] = _Batch(self, ent)
            f = Future(None, fn)
            f._b = b
            f._n = len(data) + _result_bytes(fn)
            b.add(f, data, len(futs) if futs else 0, inputs[len(ent[2]):], used)
            if len(b.futs) >= k:
                b.flush()
            return f
        payload = HDR.pack(ent[0], flags, 0, len(futs) if futs else 0) + data
        f = Future(g.task(self._kind, payload, inputs, label=_label(fn)), fn)
        f._n = len(payload) + _result_bytes(fn)
        st = self._dur.get(id(fn))
        if st is not None and not self._in_process:
            st[2] += 1
            # every 8th task (not the first: it also unpickles the function)
            # tells how long fn takes
            if st[2] & 7 == 2 and len(st[1]) < 8:
                st[1].append((f._v, 1))
        return f

    def _constant(self, raw):
        """The graph constant (snapshot) of a large argument buffer. The same
        unchanged array handed to many calls is copied once: the constant made
        from the same memory last time is reused when every byte still
        matches. Checked by memcmp (sound, and several times cheaper than the
        copy), or, for memory seen unchanged once already, by the kernel's
        record of the pages written since (_core.watch: only those are
        compared; an array nobody wrote is not read at all). An array found
        changed while watched waits 1, 3, 7, ... unchanged checks before it
        is watched again."""
        n = raw.nbytes
        if n < _SHARE_MIN:
            return self._graph.constant(raw)
        key = _core.buffer_key(raw)
        c = self._consts.get(key)
        strikes = 0
        if c is not None and c.obj is raw.obj:
            # Same memory of the same (kept alive) object. Unchanged for sure
            # while no driver event that may change an object in place has
            # happened since it was checked (_state.EPOCH, reported by the
            # translated code); otherwise ask the watch, or compare every byte.
            if _state.TRACKING and c.epoch == _state.EPOCH:
                return c.value
            w = c.watch
            if w is not None:
                same = w.same(c.value, raw)
                if same is None:  # cannot tell: the watch has ended
                    same = _core.same_bytes(c.value, raw)
                    c.watch = None
            else:
                if c.calm >= (1 << c.strikes) - 1:
                    # seen unchanged often enough since it last changed
                    # while watched: watch it, protected before the compare
                    # (a write after it is seen)
                    c.watch = w = _core.watch(raw)
                    if w is None:
                        c.strikes = _NO_WATCH  # cannot be watched: do not ask again
                same = _core.same_bytes(c.value, raw)
                if w is None:
                    c.calm += 1
            if same:
                c.epoch = _state.EPOCH
                return c.value
            # changed: stop watching (each first write to a watched page
            # costs its writer a fault), snapshot it again, and wait longer
            # each time before watching it again (an array changed every
            # other call would pay the faults and the protection each time)
            strikes = c.strikes if w is None else min(c.strikes + 1, 8)
        v = self._graph.constant(raw)
        consts = self._consts
        old = consts.pop(key, None)
        if old is not None:
            old.forget()
        consts[key] = _Const(v, raw.obj, _state.EPOCH, strikes)
        held = sum(k[1] for k in consts)
        while len(consts) > 1 and (len(consts) > _SHARE_KEEP or held > _SHARE_BYTES):
            old = next(iter(consts))
            held -= old[1]
            consts.pop(old).forget()
        return v

    def _batch_size(self, fn, key):
        """How many calls of fn go into one task: learned from the run time
        of earlier tasks of fn (Value.seconds; in-process executors time the
        call itself, as the task's time includes waiting for the GIL), 1
        until known."""
        st = self._dur.get(id(fn))
        if st is None:
            if len(self._dur) > 4096:  # functions made on the fly: keep it bounded
                self._dur.clear()
            # seconds per call, probes [(Value, calls in its task)], tasks sent,
            # (seconds, BATCH_MAX, BATCH_SECONDS, calls per batch) last computed
            st = self._dur[id(fn)] = [None, [], 0, None]
            return 1
        if self._in_process:
            d = _serialize.SECONDS.get(key)
            if d is not None:
                st[0] = d
        else:
            probes = st[1]
            while probes and probes[0][0].done():
                v, n = probes.pop(0)
                sec = v.seconds()
                if sec is not None:
                    d = sec / n
                    st[0] = d if st[0] is None else 0.5 * (st[0] + d)
        d = st[0]
        if d is None:
            return 1
        c = st[3]
        if c is not None and c[0] is d and c[1] is BATCH_MAX and c[2] is BATCH_SECONDS:
            return c[3]  # the same duration as last time (per task: no arithmetic)
        k = BATCH_MAX if d <= 0 else max(1, min(BATCH_MAX, int(BATCH_SECONDS / d)))
        st[3] = (d, BATCH_MAX, BATCH_SECONDS, k)
        return k

    def flush(self):
        """Send the batches being filled (the runtime calls this before the
        driver waits), oldest first."""
        while self._opens:
            next(iter(self._opens.values())).flush()

    def _local_batch(self, fn, ent, k):
        """[the batch of fn's version being filled that this call would join,
        whether the call's pickle names one of its calls, the batch size], or
        None: placeholders of calls in that batch are then named as earlier
        members of the call's own batch (f(f(i)): the inner call's result is
        read in the same task), and the batch keeps filling."""
        b = self._opens.get(ent[0])
        if b is None or b.ent is not ent or self._check:
            return None
        if k is None:
            k = self._batch_size(fn, ent[0])
        return [b, False, k] if k > 1 and len(b.futs) < k else None

    def _dumps_with_futures(self, fn, args, kwargs, bufs, cb, futs, cloud=False, first=None,
                            local=None):
        import io

        index = {}
        cpids = {}  # id(class) -> its persistent id in this pickle (or None)
        lb = local[0] if local is not None else None

        def slot(x):
            """x's index among the call's inputs after its buffers."""
            i = index.get(id(x))
            if i is None:
                i = index[id(x)] = len(futs)
                futs.append(x)
            return i

        def pid(obj):
            if type(obj) is Future and obj._driver_value() is _NOVALUE:
                if obj._b is lb and lb is not None and obj._v is None:
                    mf = lb.futs
                    for j in range(len(mf) - 1, -1, -1):
                        if mf[j] is obj:
                            local[1] = True
                            return ("m", j)
                return slot(obj)
            if isinstance(obj, type):
                k = id(obj)
                if k in cpids:
                    return cpids[k]
                e = self._class_version(obj)
                r = None
                if e is not None:
                    # an input for the version's pickle (in process, where the
                    # copy is found by its key, one empty constant for all:
                    # the task's loader then is the one that reads the ids)
                    r = ("c", slot(e.value if e.value is not None else self._class_mark()), e.key)
                cpids[k] = r
                return r
            return None

        persistent_id = _core.pid_filter(pid, Future)  # (pid's None for the rest, in C)

        def dump(pickler_cls):
            if pickler_cls is pickle.Pickler:
                return self._plain_dump((args, kwargs), persistent_id, cb)
            f = io.BytesIO()
            p = pickler_cls(f, 5, buffer_callback=cb)
            p.persistent_id = persistent_id
            p.dump((args, kwargs))
            return f.getvalue()

        if not cloud:
            try:
                data = dump(pickle.Pickler)
                if MAIN not in data:
                    return data
            except Exception as e:
                if _state.program_failure(e):
                    raise
                first = e
            del bufs[:], futs[:]
            index.clear()
            cpids.clear()
            if local is not None:
                local[1] = False
        try:
            return dump(_serialize.args_pickler())
        except Exception as e:
            if _state.program_failure(e):
                raise
            raise _describe_arg(fn, args, kwargs, first or e) from None

    def _plain_dump(self, obj, persistent_id, cb):
        """pickle.Pickler(f, 5, buffer_callback=cb) with persistent_id, of obj:
        one pickler and file reused (a pickler made per call was a fifth of
        the pickle's time for a dataclass argument), its memo cleared after
        each dump. One in use is out of the pool (list.pop: one step under
        the GIL): a dump inside a dump (pickling ran code of the program
        that submits), or on another thread, makes its own."""
        import io

        try:
            r = self._pks.pop()
        except IndexError:
            box = [None]
            f = io.BytesIO()
            r = (f, pickle.Pickler(f, 5, buffer_callback=lambda pb: box[0](pb)), box)
        f, p, box = r
        box[0] = cb
        p.persistent_id = persistent_id
        try:
            p.dump(obj)
            return f.getvalue()
        finally:
            p.persistent_id = _no_pid  # (not keeping this call's arguments alive)
            box[0] = None
            p.clear_memo()
            f.seek(0)
            f.truncate()
            if not self._pks:
                self._pks.append(r)

    def wait_all(self, futures) -> None:
        """Wait for every future; never raises for failed tasks."""
        for f in futures:
            if f._r is None:
                try:
                    f._val().wait()
                except _core.TaskError:
                    pass

    def stats(self):
        """libpydron's counters of the graph (pydron_graph_stats)."""
        return self._graph.stats()

    def view_stats(self):
        """Counters of the run so far, as the user sees them (pydron.stats)."""
        try:
            n = self._rt.nworkers()
        except _core.PydronError:
            n = 0
        return _view.make_stats(self._graph.stats(), self._started, n, self.executor)

    def nworkers(self) -> int:
        return self._rt.nworkers()

    def close(self, timeout=None):
        """Cancel pending tasks, stop the executor (workers exit), free all.

        With worker processes and a timeout, tasks still running after it
        are abandoned: the graph is not freed (that would wait for them) and
        the workers die with this process (parent-death signal and lost
        connection). Used at interpreter exit. timeout=0 (after Ctrl-C)
        abandons tasks running on threads of this process too."""
        if self._closed:
            return
        self._closed = True
        global _last_stats
        if self._progress is not None:
            self._progress.stop()
        try:
            _last_stats = self.view_stats()
        except _core.PydronError:
            pass
        self._opens = {}  # calls never sent: waiting for one raises ClosedError
        for c in self._consts.values():
            c.forget()
        self._consts.clear()
        self._codes.clear()
        try:
            self._graph.cancel()
        except _core.PydronError:
            pass
        if timeout == 0:
            # after Ctrl-C: nothing more runs (the inline executor would run
            # tasks inside graph.run); tasks running on threads are abandoned
            _ABANDONED.append((self._graph, self._rt))
            return
        if timeout is not None and not self._in_process:
            try:
                self._graph.run(timeout)
            except (_core.WaitTimeout, _core.Interrupted):
                log.debug("pydron: tasks still running at exit; workers stop with the process")
                _ABANDONED.append((self._graph, self._rt))  # freeing would wait
                return
        self._graph.close()
        self._rt.close()
        if self._in_process:
            for k in list(self._old_keys) + [e[0] for e in self._fcache.values()] + \
                    [e.key for e in self._cvers.values()]:
                _serialize._FUNCS.pop(k, None)
                _serialize.CLASSMAPS.pop(k, None)
                _serialize.CLASS_COPIES.pop(k, None)
        self._cvers.clear()
        self._cmark = None


_session: Session | None = None
_last_stats: dict | None = None  # of the last session closed
_ABANDONED: list = []  # graphs with tasks still running at exit; never freed
_lock = threading.Lock()
_atexit_done = False


def session() -> Session:
    """The current session; the first call starts the configured runtime."""
    s = _session
    if s is not None:
        return s
    return _start()


def _start() -> Session:
    global _session, _atexit_done
    from . import config

    with _lock:
        if _session is not None:
            return _session
        cfg = config.resolved()
        ex = cfg["executor"]
        try:
            s = Session(ex, cfg["workers"], cfg["policy"], cfg["address"], cfg["secret"],
                        cfg["max_retries"], cfg["heartbeat_ms"], cfg["worker_wait_timeout"],
                        cfg["view"], cfg["tls_cert"], cfg["tls_key"], cfg.get("client"),
                        {k: cfg.get(k) for k in ("cluster", "hosts", "launch_command",
                                                 "launch_args", "join_timeout",
                                                 "restarts")},
                        window=cfg["window"])
        except _core.PydronError as e:
            if ex != "local" or cfg["explicit_executor"]:
                raise
            log.warning("pydron: local workers cannot start (%s); using the threads executor", e)
            s = Session("threads", cfg["workers"], cfg["policy"], view=cfg["view"])
        _session = s
        if not _atexit_done:
            atexit.register(_at_exit)
            _atexit_done = True
        return s


def shutdown(timeout=None):
    """Stop the current session (workers exit). The next use starts anew."""
    global _session
    with _lock:
        s, _session = _session, None
    if s is not None:
        s.close(timeout)


def _at_exit():
    # Do not wait minutes for running worker tasks when the program ends:
    # after a short grace period the workers go with us; after Ctrl-C at
    # once, as plain Python stops at once (tasks on threads are abandoned,
    # worker processes die with this one).
    last = getattr(sys, "last_type", None)
    interrupted = isinstance(last, type) and issubclass(last, KeyboardInterrupt)
    s = _session
    if s is not None and not interrupted:
        _exit_view(s)
    shutdown(timeout=0 if interrupted else 1.0)
    try:
        _core.trace_stop()  # PYDRON_TRACE / configure(trace=): a complete file now
    except _core.PydronError as e:
        log.warning("pydron: the trace could not be written: %s", e)


def _exit_view(s):
    """What the program asked to see at its end: the summary line, the graph."""
    from . import config

    try:
        view = config.resolved()["view"]
    except ValueError:
        return
    if s._progress is not None:
        s._progress.stop()
        s._progress = None
    if _view.stats_wanted(view.get("stats")):
        try:
            sys.stderr.write(_view.summary_line(s.view_stats()) + "\n")
            sys.stderr.flush()
        except (_core.PydronError, OSError, ValueError):
            pass
    if view.get("graph"):
        try:
            _view.write_graph(s._graph.dot_run(), view["graph"])
        except (OSError, subprocess.SubprocessError, _core.PydronError) as e:
            log.warning("pydron: the graph of the run could not be written: %s", e)


def current():
    """The running session or None (does not start one)."""
    return _session


def call_returned():
    """The outermost @schedule call returned: the progress line goes until
    tasks are submitted again."""
    s = _session
    if s is not None and s._progress is not None:
        s._progress.pause()
