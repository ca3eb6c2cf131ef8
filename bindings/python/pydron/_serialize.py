"""Payload encoding of Python tasks and the runner body (``run_task``).

A task of kind "python" has

* a payload: ``HDR`` (function key, flags, number of out-of-band buffers,
  number of future inputs) followed by a pickle (protocol 5) of
  ``(args, kwargs)``;
* inputs, in this order: the pickled function (only when the task may run in
  another process), one input per out-of-band buffer (large numpy arrays
  travel as their own values, not inside the pickle), one input per Future
  that was an argument (referenced from the pickle by persistent id);
* one output: a *result blob* (``encode_result``): a pickle, followed by
  the out-of-band buffers if there are any.

A failing task raises ``_core.TaskFailed(message, detail)`` where detail is
a pickled dict holding the pickled exception (if it pickles and unpickles),
its frames in the program and the exceptions chained to it; the driver
raises it with those frames at the end of its traceback.

The same ``run_task`` runs in-process (inline/threads executors) and in
``python -m pydron.worker``.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import struct
import sys
import threading
import traceback
import types
import weakref

from . import _core, _settings

HDR = struct.Struct("<QIII")  # function key, flags, nbuf, nfut
F_FN_INPUT = 1  # input 0 is the pickled function
F_CHECK = 2  # check mode (PYDRON_CHECK=1): report arguments the task changed
F_SLOW = 4  # the arguments were not pickled plainly (see decode_args)
# A batch of calls of one function (adaptive granularity): after HDR (nbuf =
# nfut = 0) come BATCH_N (member count) and one BATCH_M (nbuf, nfut, body
# length) per member, then the members' bodies; the inputs after the function
# are each member's buffers and futures in turn. The task has one output per
# member: its result blob, or a _MemberFailed blob when that call raised.
# Members are loaded with care (as F_SLOW).
F_BATCH = 8
# The program's own modules travel with the task (remote and Dask sessions):
# input 0 is the code bundle (see _ship), installed once per content hash
# before the function is unpickled; the function input, if any, follows it.
F_CODE = 16
BATCH_N = struct.Struct("<I")
BATCH_M = struct.Struct("<III")
# A member's nbuf with this bit: its pickle names results of earlier members
# of its batch, by persistent ids ("m", member index) (f(f(i)): the inner
# call is in the batch the outer one joins); members with buffers are never
# batched, so the rest of nbuf is 0. The worker's C loop hands such a member
# back to _run_batch (nbuf not 0).
M_LOCAL = 1 << 31

TRAILER = b"PDOB"  # ends a result blob that has out-of-band buffers
OOB_MIN = 64 * 1024  # smaller buffers stay inside the pickle
ALIGN = 64

MAIN = b"__main__"  # in a pickle: something refers to the __main__ module

_FUNCS: dict = {}  # function key -> callable (this process)
# function key -> seconds of its last call run in this process: the driver of
# an in-process executor learns from it how long a call takes (adaptive
# granularity); a worker process's tasks are timed by the library instead.
SECONDS: dict = {}
_clock = __import__("time").perf_counter
_FUNCS_MAX = 4096


def identity(v):
    """Unpickles a Future resolved on the driver as the driver's object."""
    return v


def _align(n: int) -> int:
    return (n + ALIGN - 1) & ~(ALIGN - 1)


# -- results -----------------------------------------------------------------
#
# A result blob is a pickle (protocol 5). When the value holds large buffers
# (numpy arrays), they follow the pickle out-of-band, each 64-byte aligned,
# then a table of (offset, length) u64 pairs, their count (u32) and TRAILER.
# pickle.loads ignores bytes after the pickle's STOP, so the common small
# result is decoded with one pickle.loads on the value's bytes.

_PLAIN = frozenset([int, float, str, bytes, bool, type(None), complex])
# the plain calls of a batch in C (_run_batch); PYDRON_FASTCALL=0 (read where
# the worker starts: it inherits the driver's environment) leaves every call
# to Python, as for the driver's fast path
_batch_plain = getattr(_core, "batch_plain", None) \
    if os.environ.get("PYDRON_FASTCALL", "1") != "0" else None


class _OOB(list):
    """buffer_callback: small buffers stay in-band (True), large ones are
    collected (None) and travel out-of-band."""

    __slots__ = ()

    def __call__(self, pb):
        if pb.raw().nbytes < OOB_MIN:
            return True
        self.append(pb)
        return None


_CloudPickler = None


def cloud_pickler():
    """cloudpickle's Pickler, but code keeps its file name (cloudpickle writes
    "<dynamic-code>"), so that a task's traceback names the program's file
    and line, and shows the source line where the file exists."""
    global _CloudPickler
    if _CloudPickler is None:
        import collections
        import types

        import cloudpickle
        from cloudpickle import cloudpickle as cp

        reduce_code = cp._code_reduce

        def code_reduce(code):
            cls, args = reduce_code(code)
            return cls, tuple(code.co_filename if type(a) is str and a == "<dynamic-code>" else a
                              for a in args)

        class CloudPickler(cloudpickle.Pickler):
            dispatch_table = collections.ChainMap({types.CodeType: code_reduce},
                                                  cloudpickle.Pickler.dispatch_table)

        _CloudPickler = CloudPickler
    return _CloudPickler


# A generator given to a task (`total(x * 2 for x in xs)`, `fit(rows(path))`)
# cannot travel: it is a running frame. The task gets a generator over the
# same items instead, read whole on the driver at the call (the arguments of a
# task are its snapshot, as for every other mutable argument). The same holds
# for a generator a task returns (a @functional generator function): the task
# reads it whole and the program gets a generator of its items. What the
# generator raises while being read is raised where its next item would have
# been, as it is in plain Python. At most GEN_MAX items are read: a generator
# without end fails with a clear error instead of filling memory.
GEN_MAX = 10_000_000


def _replay(items, exc=None):
    """A generator read whole, given again: its items, then its failure."""
    yield from items
    if exc is not None:
        raise exc


def _read_gen(gen, where):
    """(items, exception or None) of gen; TypeError past GEN_MAX items."""
    from . import _state

    items = []
    try:
        for x in gen:
            items.append(x)
            if len(items) > GEN_MAX:
                e = TypeError(f"a generator {where} is read whole, and this one gave more "
                              f"than {GEN_MAX:,} items (a generator without end?); use a "
                              f"list, or a bounded iterator (itertools.islice)")
                _state.RAISING = e  # (see _state.RAISING: the program's failure)
                raise e
    except Exception as e:  # noqa: BLE001 - raised where the item would have been
        if _state.program_failure(e):
            raise
        return items, e
    return items, None


def _gen_reduce(gen):
    return _Items(*_read_gen(gen, "given to a task")).__reduce__()


class _Items:
    """A generator's items read whole, and its failure: pickled as a
    generator of them (_replay). A task's generator result (read inside the
    task's output capture) and a generator expression given to a task whose
    lazy twin took its steps (_runtime.calls._gen_args: the values read in
    order after every item's task was submitted)."""

    __slots__ = ("items", "exc")

    def __init__(self, items, exc=None):
        self.items, self.exc = items, exc

    def __reduce__(self):
        return _replay, (self.items, self.exc) if self.exc is not None else (self.items,)


_ArgsPickler = None


def args_pickler():
    """The pickler of a task's arguments when plain pickle fails: the cloud
    pickler, which also hands generators over (_gen_reduce)."""
    global _ArgsPickler
    if _ArgsPickler is None:
        import collections

        base = cloud_pickler()

        class ArgsPickler(base):
            dispatch_table = collections.ChainMap({types.GeneratorType: _gen_reduce},
                                                  base.dispatch_table)

        _ArgsPickler = ArgsPickler
    return _ArgsPickler


def cloud_dumps(obj, buffer_callback=None):
    f = io.BytesIO()
    cloud_pickler()(f, 5, buffer_callback=buffer_callback).dump(obj)
    return f.getvalue()


def _dumps_any(obj, bufs):
    """Pickle with out-of-band buffers; cloudpickle only if plain pickle fails."""
    e = _CLASS_BYTES.get(id(type(obj)))
    if e is None or e[0] is not type(obj):  # (an instance of such a class: plain pickle fails)
        try:
            data = pickle.dumps(obj, 5, buffer_callback=bufs)
            if MAIN not in data:
                return data
        except Exception:
            pass
    # Classes and functions of the program's __main__ travel by value (the
    # other process's __main__ is a different module); classes as class
    # references (see _ResultPickler).
    del bufs[:]
    f = io.BytesIO()
    _result_pickler()(f, 5, buffer_callback=bufs).dump(obj)
    return f.getvalue()


# -- classes in results: class references ------------------------------------
#
# A result holding instances of a class that pickles by value carried that
# class's whole pickle (its methods' code...), made again for every result
# and loaded again by the driver only to find its own class there (by the
# class's cloudpickle tracker id). A result now names such a class as
# _load_class_ref(tracker id, the class's pickle as bytes): the driver, or a
# task's process that has the class already, takes the class by its tracker
# id and skips the pickle; only a process that does not have it loads it.
# (The bytes hold "cloudpickle" and "_class_setstate": every reader of such
# a result takes the unpicklers below, not a plain pickle.loads.)
# The pickle is made once per class while nothing in this process set that
# class's state (_CLS_STAMP), and only for classes this process got from
# pickles (a worker's classes, an in-process task's copies), which change
# only so: the driver's own classes (and those a task defines as it runs,
# in the driver's process) are pickled anew each time.

IN_DRIVER = False  # a session was made in this process (Session.__init__)
_CLS_STAMP = [0]  # bumped whenever this process sets a class's state from a pickle
_CLASS_BYTES: dict = {}  # id(class) -> (class, stamp, tracker id, its pickle)
_BYREF_CLASSES: dict = {}  # id(class) -> class: pickled by reference
_ResultPickler = None


def _load_class_ref(tid, data):
    """A class reference as a plain unpickler reads it: the class of this
    process with that tracker id, else its pickle."""
    from cloudpickle import cloudpickle as cp

    cls = cp._DYNAMIC_CLASS_TRACKER_BY_ID.get(tid)
    return cls if cls is not None else pickle.loads(data)


def by_reference(cls) -> bool:
    """cloudpickle pickles cls by reference (importable), not by value;
    remembered for the classes found so."""
    i = id(cls)
    if _BYREF_CLASSES.get(i) is cls:
        return True
    from cloudpickle import cloudpickle as cp

    if not cp._should_pickle_by_reference(cls):
        return False
    if len(_BYREF_CLASSES) >= _FUNCS_MAX:
        _BYREF_CLASSES.clear()
    _BYREF_CLASSES[i] = cls
    return True


def _class_ref(cls):
    """(tracker id, pickle) of a by-value class in a result, None if it
    pickles by reference."""
    e = _CLASS_BYTES.get(id(cls))
    if e is not None and e[0] is cls and e[1] == _CLS_STAMP[0]:
        return e[2], e[3]
    if by_reference(cls):
        return None
    from cloudpickle import cloudpickle as cp

    i = id(cls)
    tid = cp._get_or_create_tracker_id(cls)
    data = cloud_dumps(cls)
    if not IN_DRIVER or cp._DYNAMIC_CLASS_TRACKER_BY_ID.get(tid) is not cls:
        # a class got from a pickle (a worker's, or an in-process copy): kept
        if len(_CLASS_BYTES) >= _FUNCS_MAX:
            _CLASS_BYTES.clear()
        _CLASS_BYTES[i] = (cls, _CLS_STAMP[0], tid, data)
    return tid, data


def _result_pickler():
    global _ResultPickler
    if _ResultPickler is None:
        class ResultPickler(cloud_pickler()):
            # (reducer_override: called only for objects that are not atoms,
            # as cloudpickle's own is, where a persistent_id runs for every one)
            def reducer_override(self, obj):
                if isinstance(obj, type):
                    r = _class_ref(obj)
                    if r is not None:
                        return _load_class_ref, r
                return super().reducer_override(obj)

        _ResultPickler = ResultPickler
    return _ResultPickler


def encode_result(obj):
    """Result blob: bytes, or a list of parts the C runner concatenates once."""
    if type(obj) in _PLAIN:
        return pickle.dumps(obj, 5)
    bufs = _OOB()
    data = _dumps_any(obj, bufs)
    if not bufs:
        return data
    parts = [data]
    off = len(data)
    table = []
    for pb in bufs:
        r = pb.raw()
        pad = _align(off) - off
        if pad:
            parts.append(bytes(pad))
        off += pad
        table += (off, r.nbytes)
        parts.append(r)
        off += r.nbytes
    parts.append(struct.pack(f"<{len(table)}QI", *table, len(bufs)) + TRAILER)
    return parts


def _oob_views(mv):
    if mv[-4:] != TRAILER:
        return None
    end = len(mv) - 8
    (nbuf,) = struct.unpack_from("<I", mv, end)
    table = struct.unpack_from(f"<{2 * nbuf}Q", mv, end - 16 * nbuf)
    return [mv[table[i]:table[i] + table[i + 1]] for i in range(0, 2 * nbuf, 2)]


def _oob_start(mv):
    """Offset of the first out-of-band buffer (the end of the pickle)."""
    end = len(mv) - 8
    (nbuf,) = struct.unpack_from("<I", mv, end)
    return struct.unpack_from("<Q", mv, end - 16 * nbuf)[0] if nbuf else end


class _Logged:
    """A task's result with the log records the task made (worker processes)
    and, in check mode, the arguments it changed: the driver hands the
    records to its own loggers and warns when it gets the value."""

    __slots__ = ("value", "records", "notes")

    def __init__(self, value, records, notes=None):
        self.value, self.records, self.notes = value, records, notes

    def __reduce__(self):
        return _Logged, (self.value, self.records, self.notes)


def _hand_on(records, fut):
    """Driver: a task's records (output, log records, warnings) to the
    driver's streams and loggers, in program order: read before an earlier
    task that is still pending (the program needed this value first), they
    wait on the Future (fut._o) until it leaves the pending queue
    (barriers._pop_front); a task that is then forgotten shows nothing."""
    if fut is not None:
        from ._runtime.state import S, pending

        if pending and pending[0][1] is not fut:
            for _, f in pending:  # (the front is usually such a task)
                if f is fut:
                    break  # none before it
                if (f._r is None or f._o is not None) if type(f) is type(fut) else \
                        (type(f) is S.Lazy and not f.ran):
                    # an earlier task whose records may come, or wait, or an
                    # earlier deferred operation (a print: its line comes
                    # first; one that raises: later tasks show nothing): if
                    # fut is in the queue too (looked for from the newest
                    # end, where a value read at once usually is), they wait
                    for _, g in reversed(pending):
                        if g is fut:
                            fut._o = records if fut._o is None else fut._o + records
                            return
                    break
    _settings.forward(records)


def _unwrap(v, driver, fut=None):
    if type(v) is _Logged:
        if driver and not (_SHOWN and fut is not None and fut in _SHOWN):
            if v.records:
                _hand_on(v.records, fut)
            if v.notes:
                from . import _purity

                _purity.report_mutations(v.notes)
        v = v.value
    return v


def decode_result(buf, writable: bool, cmap=None, copy=False, fut=None):
    """Inverse of encode_result. writable=True (driver side: the program may
    modify what it gets back) maps large results privately, copy-on-write
    (``Value.private_buffer``), and copies out-of-band buffers only when
    that is not possible; arrays always come back writable, and classes of the
    program are the driver's own. False hands out read-only zero-copy views
    (task side: arguments are snapshots; cmap and copy: see _TaskUnpickler)."""
    mv = memoryview(buf)
    if mv[-1] == 46:  # ends with STOP ("."): a pickle without out-of-band buffers
        if writable and mv.nbytes > 32 and _NEEDS_DRIVER.search(mv) is not None:
            v = _DriverUnpickler(io.BytesIO(mv)).load()
        elif not writable:
            v = task_loads(mv, cmap=cmap, copy=copy, update=False)
        else:
            v = pickle.loads(mv)
        return _unwrap(v, writable, fut) if type(v) is _Logged else v
    views = _oob_views(mv)
    if writable:
        priv = getattr(buf, "private_buffer", None)
        pb = priv() if priv is not None else None
        if pb is not None:
            # writes touch private pages only: the value (and other tasks
            # that read it) never see them
            mv = memoryview(pb)
            views = _oob_views(mv)
        else:
            views = [memoryview(bytearray(v)) for v in views]
        # PickleBuffer: an array whose pickle says "read-only" can still get
        # the writable memory (see _writable_frombuffer)
        return _unwrap(driver_loads(mv, [pickle.PickleBuffer(v) for v in views],
                                    mv[:_oob_start(mv)]), True, fut)
    return _unwrap(task_loads(mv, views, cmap, mv[:_oob_start(mv)], copy, False), False)


# -- the driver's unpickler ----------------------------------------------------
#
# Results come back to the process that defined the program's classes. Two
# things differ from a plain pickle.loads there:
# * cloudpickle rebuilds a class that travelled by value with its skeleton,
#   which in the driver is the driver's own class (tracked by id), and then
#   sets its attributes again: that would replace the driver's methods by
#   copies and fails for enums (IntFlag with a zero member: "cannot reassign
#   member"). The driver's classes are left as they are.
# * numpy keeps a buffer's read-only flag (an array a task returns unchanged
#   is its read-only argument): the driver's arrays are always writable.

_NEEDS_DRIVER = re.compile(rb"cloudpickle|_frombuffer")
_reused: "weakref.WeakSet" = weakref.WeakSet()


def _skeleton(make):
    def skeleton(*args):
        from cloudpickle import cloudpickle as cp

        tid = args[-2]  # class_tracker_id, then extra, in both
        known = cp._DYNAMIC_CLASS_TRACKER_BY_ID.get(tid)
        cls = make(*args)
        if known is not None and cls is known:
            _reused.add(cls)
        return cls
    return skeleton


def _class_setstate(obj, state):
    if obj in _reused:
        return obj
    from cloudpickle import cloudpickle as cp

    return cp._class_setstate(obj, state)


def _writable_frombuffer(buf, dtype, shape, order):
    import numpy as np

    if isinstance(buf, memoryview) and buf.readonly:
        o = buf.obj
        if type(o) is memoryview and not o.readonly and o.nbytes == buf.nbytes:
            buf = o
        else:
            buf = bytearray(buf)
    elif isinstance(buf, bytes):
        buf = bytearray(buf)
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _driver_class_ref(tid, data):
    """A class reference (_class_ref) in the driver: its own class by the
    tracker id; the pickle only if the driver does not know it."""
    from cloudpickle import cloudpickle as cp

    cls = cp._DYNAMIC_CLASS_TRACKER_BY_ID.get(tid)
    return cls if cls is not None else _DriverUnpickler(io.BytesIO(data)).load()


class _DriverUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if name == "_load_class_ref" and module == __name__:
            return _driver_class_ref
        if module == "cloudpickle.cloudpickle":
            if name == "_class_setstate":
                return _class_setstate
            if name in ("_make_skeleton_class", "_make_skeleton_enum"):
                return _skeleton(super().find_class(module, name))
        elif name == "_frombuffer" and module in ("numpy._core.numeric", "numpy.core.numeric"):
            return _writable_frombuffer
        return super().find_class(module, name)


# -- the task's side: classes as of the call ------------------------------------
#
# A task sees the program's classes as of its call: its function's version
# carries the classes it reaches, and arguments made by the driver carry
# theirs (both pickled by value at the call). Results of earlier tasks also
# carry classes by value, but as they were when that task ran: loading them
# must not set that older state on a class this process already has
# (cloudpickle would: the last pickle loaded wins), so there known classes
# are reused as they are, as in the driver.
#
# In-process executors (inline, threads) run a copy of the function made
# from its pickle (copy_loads). Its classes are copies too (the driver's
# class keeps reading live module globals): CLASSMAPS[key] maps each driver
# class to the version's copy, and the task's data is loaded with it, so
# arguments, earlier results and the function agree on the class
# (isinstance works); a class the function does not reach gets a copy of
# its own from the data. A copy pickles under its driver class's tracker
# id: a result comes back to the driver as an instance of the driver's own
# class.

_SETSTATE = re.compile(rb"_class_setstate")
CLASSMAPS: dict = {}  # function key -> {driver class: copy} (in-process)

# Class versions. An argument's by-value class is not pickled into every
# call: the driver pickles it once per version (while nothing its pickle
# carries changed: _state.ClassState) into a graph constant, and the call's
# pickle names it by a persistent id ("c", input index, version key). A
# worker loads a version once (_CLASS_VERSIONS) and again only if something
# else has set that class's state since (_APPLIED: which version set it
# last), so each task still sees the class as of its call. In process
# (inline, threads) the driver makes one copy per version (CLASS_COPIES;
# the id's input is then one empty constant shared by all versions, which
# only makes the task load its arguments with _ArgUnpickler), shared with
# the copies its functions' versions make, so that one class has one copy
# in a task.
CLASS_COPIES: dict = {}  # version key -> (weakref to the driver class, copy) (in-process)
_CLASS_VERSIONS: dict = {}  # version key -> class (worker)
_APPLIED: dict = {}  # id(class) -> the version key that set its state last (worker)


class _TaskUnpickler(pickle.Unpickler):
    """Loads a task's data. copy (in-process): the driver's classes become
    copies (cmap: those of the function's version). Otherwise a class this
    process knows takes the data's state only if update (arguments made at
    the call), never from results of earlier tasks."""

    def __init__(self, file, buffers=None, cmap=None, copy=False, update=True):
        super().__init__(file, buffers=buffers)
        self._cmap = cmap or {}
        self._copy = copy
        self._update = update
        self._own = None  # copies made by this load (classes the function does not reach)
        self._kept = set()

    def find_class(self, module, name):
        if name == "_load_class_ref" and module == __name__:
            return self._class_ref
        obj = super().find_class(module, name)
        if module == "cloudpickle.cloudpickle":
            if name == "_class_setstate":
                kept = self._kept

                def setstate(cls, state):
                    if id(cls) in kept:
                        return cls
                    _APPLIED.pop(id(cls), None)  # a version loaded before is not its state now
                    _CLS_STAMP[0] += 1
                    _drop_stale(cls, state)
                    return obj(cls, state)
                return setstate
            if name in ("_make_skeleton_class", "_make_skeleton_enum"):
                return self._skeleton(obj)
            return obj
        if self._copy and isinstance(obj, type):
            return self._cmap.get(obj) or (self._own or {}).get(obj) or obj
        return obj

    def _class_ref(self, tid, data):
        """A class reference (_class_ref): as the class's pickle would load
        here, without loading it when the class it names is known."""
        from cloudpickle import cloudpickle as cp

        known = cp._DYNAMIC_CLASS_TRACKER_BY_ID.get(tid)
        if known is not None:
            if self._copy:
                c = self._cmap.get(known) or (self._own or {}).get(known)
                if c is not None:
                    return c
            elif not self._update:
                return known
        sub = _TaskUnpickler(io.BytesIO(data), None, self._cmap, self._copy, self._update)
        sub._own, sub._kept = self._own, self._kept
        cls = sub.load()
        self._own = sub._own
        return cls

    def _skeleton(self, make):
        def skeleton(*args):
            from cloudpickle import cloudpickle as cp

            tid = args[-2]
            known = cp._DYNAMIC_CLASS_TRACKER_BY_ID.get(tid)
            if known is None:
                return make(*args)
            if self._copy:
                cls = self._cmap.get(known)
                if cls is None:
                    own = self._own = self._own or {}
                    cls = own[known] = _new_copy(make, args, known)
                    return cls  # its state: the data's
            else:
                cls = known
                if self._update:
                    return cls
            self._kept.add(id(cls))
            return cls
        return skeleton


def _drop_stale(cls, state):
    """Attributes a class of this process has that the state it is given
    (cloudpickle's, of the driver's class as of a call) does not: deleted in
    the driver since an earlier state was set here. cloudpickle only sets
    attributes; sequential Python would not find these. Dunder names (the
    type's own machinery), slots and abc bookkeeping are not in that state
    and stay; an attribute left out because it is its base's own object
    falls back to that same object."""
    import enum

    if isinstance(cls, enum.EnumMeta):
        return  # its state leaves out its members and their maps
    try:
        names = state[0]
        slots = cls.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for name in [n for n in cls.__dict__ if n not in names]:
            if not (name.startswith("__") and name.endswith("__")) and name not in slots \
                    and not name.startswith("_abc_"):
                delattr(cls, name)
    except Exception:  # noqa: BLE001 - an odd class: as cloudpickle leaves it
        pass


def _new_copy(make, args, known):
    """A fresh class from a cloudpickle skeleton, pickled (and so sent back
    to the driver) as the driver's class `known`."""
    from cloudpickle import cloudpickle as cp

    tid = args[-2]
    head = args[:-2]
    if isinstance(known, type) and issubclass(known, Warning) and len(head) == 4 \
            and getattr(make, "__name__", "") == "_make_skeleton_class":
        # A warning class of the script: the copy derives from the driver's
        # class as well as from its own bases (first, for a consistent
        # order: the driver's class is a subclass of those bases' originals),
        # so the program's warnings filters naming that class or a base (the
        # process's own, which in-process tasks see) match the task's
        # warnings too, "error" raising in the task as in sequential Python,
        # while the task's `except` clauses name the copies.
        head = (head[0], head[1], (known,) + tuple(head[2]), head[3])
    copy = make(*head, None, args[-1])
    with cp._DYNAMIC_CLASS_TRACKER_LOCK:
        cp._DYNAMIC_CLASS_TRACKER_BY_CLASS[copy] = tid
    return copy


def task_loads(data, buffers=None, cmap=None, head=None, copy=False, update=True):
    """pickle.loads for a task's data (see _TaskUnpickler). head: the
    pickle's own bytes when data also holds out-of-band buffers."""
    if not cmap and _SETSTATE.search(data if head is None else head) is None:
        return pickle.loads(data, buffers=buffers)
    # the pickle alone (BytesIO copies what it is given; see driver_loads)
    return _TaskUnpickler(io.BytesIO(data if head is None else head), buffers, cmap, copy,
                          update).load()


def copy_loads(data, known=None):
    """(object, {driver class: copy}): data (a function or class pickled by
    value with the classes it reaches) loaded as fresh copies of those
    classes, as a worker would have them, not the driver's own (in-process
    executors). known: {driver class: copy} of classes whose copies are
    still as the driver's class is now; those are used as they are."""
    from cloudpickle import cloudpickle as cp

    cmap = {}
    reused = set()

    class U(pickle.Unpickler):
        def find_class(self, module, name):
            obj = super().find_class(module, name)
            if module == "cloudpickle.cloudpickle" and name in ("_make_skeleton_class",
                                                                "_make_skeleton_enum"):
                def skeleton(*args):
                    known_cls = cp._DYNAMIC_CLASS_TRACKER_BY_ID.get(args[-2])
                    if known_cls is None:
                        return obj(*args[:-2], None, args[-1])
                    copy = known.get(known_cls) if known else None
                    if copy is not None:
                        reused.add(id(copy))
                    else:
                        copy = _new_copy(obj, args, known_cls)
                    cmap[known_cls] = copy
                    return copy
                return skeleton
            if module == "cloudpickle.cloudpickle" and name == "_class_setstate" and known:
                def setstate(cls, state):
                    return cls if id(cls) in reused else obj(cls, state)
                return setstate
            return obj

    return U(io.BytesIO(data)).load(), cmap


def class_version(pid, futs, cmap, copy):
    """The class an argument's persistent id ("c", index, version key) names
    (see CLASS_COPIES)."""
    _, i, vkey = pid
    if copy:
        ref, cls = CLASS_COPIES[vkey]
        drv = ref()
        return (cmap.get(drv) if cmap and drv is not None else None) or cls
    cls = _CLASS_VERSIONS.get(vkey)
    if cls is not None and _APPLIED.get(id(cls)) == vkey:
        return cls
    cls = _TaskUnpickler(io.BytesIO(futs[i])).load()
    if len(_CLASS_VERSIONS) >= _FUNCS_MAX:
        _CLASS_VERSIONS.clear()
    _CLASS_VERSIONS[vkey] = cls
    _APPLIED[id(cls)] = vkey
    return cls


def driver_loads(data, buffers=None, head=None):
    """pickle.loads for the driver's side (results, exceptions, functions
    copied for in-process executors). head: the pickle's own bytes when data
    also holds out-of-band buffers."""
    if _NEEDS_DRIVER.search(data if head is None else head) is None:
        return pickle.loads(data, buffers=buffers)
    # the pickle alone: BytesIO copies what it is given, and data may end
    # with the out-of-band buffers (a 32 MiB result was copied once more)
    return _DriverUnpickler(io.BytesIO(data if head is None else head), buffers=buffers).load()


# -- exceptions --------------------------------------------------------------

class RemoteTaskError(_core.PydronError, RuntimeError):
    """A task raised an exception that could not be pickled; same message."""

    def __init__(self, message: str, remote_type: str = ""):
        super().__init__(message)
        self.remote_type = remote_type


def _rebuild_exception(cls, args, state):
    """Rebuild an exception whose __init__ does not accept its own args
    (e.g. ``Oops(msg, code)`` calling ``super().__init__(msg)``)."""
    e = cls.__new__(cls, *args)
    e.args = args
    if state:
        e.__dict__.update(state)
    return e


def _pickle_exception(e, by_state):
    class P(pickle.Pickler):
        def reducer_override(self, obj):
            if obj is e:
                return _rebuild_exception, (type(e), e.args, getattr(e, "__dict__", None))
            return NotImplemented

    f = io.BytesIO()
    try:
        (P if by_state else pickle.Pickler)(f, 5).dump(e)
        if MAIN in f.getbuffer():
            raise pickle.PicklingError("by value")
    except Exception:
        class CP(cloud_pickler()):
            def reducer_override(self, obj):
                if by_state and obj is e:
                    return _rebuild_exception, (type(e), e.args, getattr(e, "__dict__", None))
                return super().reducer_override(obj)

        f = io.BytesIO()
        CP(f, 5).dump(e)
    data = f.getvalue()
    pickle.loads(data)  # must load here, or it would not load in the driver
    return data


# Frames of code in this package are pydron's (run_task, decode_args): a
# task's traceback shows the program's frames only.
_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _program_frames(tb):
    kept = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_PKG):
            kept.append(tb)
        tb = tb.tb_next
    new = None
    for t in reversed(kept):
        new = types.TracebackType(new, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return new


def _exception_part(e, depth=0):
    """What the driver needs to raise e as sequential code would show it: the
    pickled exception (None if it does not pickle), its type and message, its
    frames in the program (file, line, end line, columns, function), and the
    exception it was raised from or while handling (as Python prints them)."""
    exc = None
    for by_state in (False, True):
        try:
            exc = _pickle_exception(e, by_state)
            break
        except Exception:
            exc = None
    t = type(e)
    frames = [(f.filename, f.lineno, f.end_lineno, f.colno, f.end_colno, f.name)
              for f in traceback.extract_tb(_program_frames(e.__traceback__))]
    d = {"exc": exc, "type": f"{t.__module__}.{t.__qualname__}", "message": str(e),
         "frames": frames}
    if depth < 8:
        if e.__cause__ is not None:
            d["cause"] = _exception_part(e.__cause__, depth + 1)
        elif e.__context__ is not None and not e.__suppress_context__:
            d["context"] = _exception_part(e.__context__, depth + 1)
    return d


def encode_exception(e: BaseException, records=None) -> bytes:
    d = _exception_part(e)
    if records:
        d["log"] = records
    return pickle.dumps(d, 5)


def forward_failure_logs(detail, fut=None) -> None:
    """Driver: the log records a failed task made before it raised."""
    if not detail:
        return
    try:
        recs = pickle.loads(detail).get("log")
    except Exception:  # noqa: BLE001 - not ours: nothing to forward
        return
    if recs:
        _hand_on(recs, fut)


class TaskError(_core.TaskError):
    """A task failed for a reason outside its code (it lost its worker more
    often than max_retries allows, no worker was left, the run was
    canceled): printed as its message, which names the function, not as the
    tuple of its arguments."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


TaskError.__module__ = "pydron"
# the core names a task "task 0x<id> ('<label>') ..."; the program knows it
# as a call of its function
_CORE_TASK = re.compile(r"^task 0x[0-9a-f]+ \('[^']*'\) ")


def _task_error(message, detail, fn):
    name = getattr(fn, "__qualname__", None) if fn is not None else None
    if name:
        message = _CORE_TASK.sub(f"{name}(): its task ", str(message), count=1)
    return TaskError(message, detail, 0)


def decode_exception(message: str, detail, fn=None) -> BaseException:
    """A fresh exception object for a failed task (each call a new copy),
    whose traceback ends with the task's frames: raised at the call, it reads
    as sequential Python's (the driver's frames, then the task's)."""
    if not detail:
        return _task_error(message, detail, fn)
    try:
        d = pickle.loads(detail)
    except Exception:
        return _task_error(message, detail, fn)
    return _rebuild(d, message)


def _rebuild(d, message):
    exc = None
    if d.get("exc") is not None:
        try:
            exc = driver_loads(d["exc"])
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteTaskError(d.get("message", message), d.get("type", ""))
    tb = _task_traceback(d.get("frames") or ())
    if tb is not None:
        exc.__traceback__ = tb
    if d.get("cause") is not None:
        exc.__cause__ = _rebuild(d["cause"], "")
    elif d.get("context") is not None:
        exc.__context__ = _rebuild(d["context"], "")
    return exc


# A task's frames in the driver: a stand-in frame per frame of the task, a
# function of the same name in the same file raising at the same place (as
# Jinja shows template frames), so that the traceback shows the file, line,
# source line and column marks of the task's code. TASK_FRAME marks them
# (their globals) for the runtime's traceback tidying.
TASK_FRAME = "__pydron_task_frame__"


class _Here(Exception):
    pass


def _task_frame(filename, lineno, end_lineno, colno, end_colno, name):
    import ast
    import linecache

    if colno is None or end_colno is None or end_lineno is None:
        line = linecache.getline(filename, lineno)
        colno = len(line) - len(line.lstrip())
        end_colno, end_lineno = max(len(line.rstrip()), colno + 1), lineno
    pos = dict(lineno=lineno, end_lineno=end_lineno, col_offset=colno, end_col_offset=end_colno)
    body = [ast.Raise(exc=ast.Name(id="_here", ctx=ast.Load(), **pos), cause=None, **pos)]
    fdef = ast.FunctionDef(name="_task", args=ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
        defaults=[]), body=body, decorator_list=[], returns=None, type_comment=None, **pos)
    ns = {"_here": _Here, TASK_FRAME: True}
    exec(compile(ast.Module(body=[fdef], type_ignores=[]), filename, "exec"), ns)
    fn = ns["_task"]
    code = fn.__code__.replace(co_name=name)
    if hasattr(code, "co_qualname"):
        code = code.replace(co_qualname=name)
    fn.__code__ = code
    try:
        fn()
    except _Here as e:
        t = e.__traceback__.tb_next
        return t.tb_frame, t.tb_lasti, t.tb_lineno
    return None


def _task_traceback(frames):
    tb = None
    for fr in reversed(frames):
        try:
            got = _task_frame(*fr)
        except Exception:  # noqa: BLE001 - an odd position: this frame is left out
            got = None
        if got is not None:
            tb = types.TracebackType(tb, *got)
    return tb


# -- the runner body ---------------------------------------------------------

class _MemberFailed:
    """The result blob of a call in a batch that raised: the same (message,
    detail) a task of its own would have failed with. The driver raises it
    for that call alone; a task given it as an argument fails with it."""

    __slots__ = ("message", "detail")

    def __init__(self, message, detail):
        self.message, self.detail = message, detail

    def __reduce__(self):
        return _MemberFailed, (self.message, self.detail)


class _ArgUnpickler(_TaskUnpickler):
    def __init__(self, data, buffers, futs, cmap, copy, local=None):
        super().__init__(io.BytesIO(data), buffers, cmap, copy)
        self._futs = futs
        self._local = local  # the result blobs of the batch's earlier members
        self._cache = {}

    def persistent_load(self, pid):
        local = type(pid) is tuple
        if local and pid[0] != "m":
            return class_version(pid, self._futs, self._cmap, self._copy)
        v = self._cache.get(pid)
        if v is None:
            # an input, or ("m", i): the result blob of the batch's member i
            blob = self._local[pid[1]] if local else self._futs[pid]
            if type(blob) is list:  # parts: the pickle, then out-of-band buffers
                blob = b"".join(blob)
            v = self._cache[pid] = decode_result(blob, False, self._cmap, self._copy)
        if type(v) is _MemberFailed:
            # as a task whose input failed: the same failure (the driver
            # raises the earlier call's in program order anyway)
            raise _core.TaskFailed(v.message, v.detail)
        return v


def decode_args(payload, inputs):
    """(fn, args, kwargs, flags) of a task."""
    key, flags, nbuf, nfut = HDR.unpack_from(payload, 0)
    i = 0
    if flags & F_CODE:
        from . import _ship

        _ship.install(inputs[0])
        i = 1
    fn = _FUNCS.get(key)
    if flags & F_FN_INPUT:
        i += 1
        if fn is None:
            # its classes take the state they had at the call (_TaskUnpickler:
            # attributes deleted since are deleted here too)
            fn, settings = _TaskUnpickler(io.BytesIO(inputs[i - 1])).load()
            _APPLIED.clear()  # its classes have the function version's state now
            _CLS_STAMP[0] += 1
            fn = _settings.with_settings(fn, settings)
            if len(_FUNCS) >= _FUNCS_MAX:
                _FUNCS.clear()
            _FUNCS[key] = fn
    elif fn is None:
        raise RuntimeError("pydron: task function not available in this process")
    if len(SECONDS) >= _FUNCS_MAX:
        SECONDS.clear()
    if flags & F_BATCH:
        return key, fn, None, None, flags
    body = payload[HDR.size:]
    # in-process (the function is not an input): the driver's classes become copies
    copy = not (flags & F_FN_INPUT)
    cmap = CLASSMAPS.get(key) if copy and CLASSMAPS else None
    if nfut:
        args, kwargs = _ArgUnpickler(body, inputs[i:i + nbuf], inputs[i + nbuf:], cmap, copy).load()
    elif cmap or flags & F_SLOW:
        args, kwargs = task_loads(body, inputs[i:i + nbuf] if nbuf else None, cmap, copy=copy)
    elif nbuf:
        args, kwargs = pickle.loads(body, buffers=inputs[i:i + nbuf])
    else:
        args, kwargs = pickle.loads(body)  # plain arguments: no class by value inside
    return key, fn, args, kwargs, flags



def _unpicklable_result(fn, e):
    """The TypeError for a task whose result cannot be pickled, naming the
    program's function (not a wrapper of pydron's, such as the one that
    applies the program's settings: those set __wrapped__)."""
    fn = getattr(fn, "__wrapped__", fn)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return TypeError(f"{name}(): its result cannot be pickled: {type(e).__name__}: {e}")

def run_task(payload, inputs):
    """Body of kind "python": payload and inputs are memoryviews valid
    during the call. Returns the result blob (bytes or list of parts)."""
    fn = None
    if _settings.COLLECT:  # log records and warnings travel to the driver
        _settings.capture_start()
    try:
        key, fn, args, kwargs, flags = decode_args(payload, inputs)
        if flags & F_BATCH:
            if _settings.COLLECT:
                _settings.capture_end()
            return _run_batch(key, fn, flags, payload, inputs)
        if _settings._applied_log is not None:
            _settings.restore_logging(fn)
        if flags & F_CHECK:
            from . import _purity

            snap = _purity.before(args, kwargs)
        t0 = _clock()
        res = fn(*args, **kwargs)
        if type(res) is types.GeneratorType:
            res = _Items(*_read_gen(res, "a task returns"))
        SECONDS[key] = _clock() - t0
        notes = _purity.mutated(fn, snap, args, kwargs) if flags & F_CHECK else None
        del args, kwargs
        recs = _settings.capture_end() if _settings.COLLECT else None
        if recs or notes:
            res = _Logged(res, recs, notes)
    except BaseException as e:
        recs = _settings.capture_end() if _settings.COLLECT else None
        if type(e) is KeyboardInterrupt and _interrupts_driver():
            # Ctrl-C reached a task run by the inline executor on the
            # driver's main thread: the program is interrupted, not the task
            # failed (the runner passes it on to the driver's wait)
            raise
        if type(e) is _core.TaskFailed:
            raise  # an argument was a failed call of a batch: its failure
        # the task's exception travels to the driver
        raise _core.TaskFailed(f"{type(e).__name__}: {e}", encode_exception(e, recs)) from None
    try:
        blob = encode_result(res)
    except Exception as e:
        # as for arguments: say which function, not 60 lines of pickler
        err = _unpicklable_result(fn, e)
        raise _core.TaskFailed(f"TypeError: {err}", encode_exception(err)) from None
    if type(res) is _Logged and _settings.CAPTURE:
        _note(blob, res)
    return blob


# Results larger than this stay on the worker that made them (the wire's
# inline limit, INLINE_MAX of libpydron/exec/proc.h and _backend).
_NOTE_MIN = 4096


def _note(blob, res):
    """Worker: a large result stays here until the program reads it, which
    it may never do (an image handed from task to task); what the task
    printed, logged and warned goes to the driver now, in the completion's
    note (pydron_ctx_output_note), and the driver shows it at the task's
    turn (Future._ok_in_place). The bytes keep it too: where they come to
    the driver whole, the note is dropped and they carry it."""
    n = len(blob) if type(blob) is bytes else sum(memoryview(p).nbytes for p in blob)
    if n <= _NOTE_MIN:
        return
    try:
        note = encode_result((res.records, res.notes))
        if type(note) is not bytes:
            return
        try:
            _core.output_note(0, note)
        except RuntimeError:  # run by an engine's worker (Dask): _engine sends it
            _engine_note.note = note
    except Exception:  # noqa: BLE001 - too large: the bytes carry it
        pass


_engine_note = threading.local()


def take_note():
    """The note of the task run_task just ran on this thread outside a
    pydron worker (an engine's worker), or None."""
    note = getattr(_engine_note, "note", None)
    if note is not None:
        _engine_note.note = None
    return note


# Futures whose task's output was shown from its note (Future._show_note):
# the records in their bytes are not shown again when the program reads them.
_SHOWN = weakref.WeakSet()


def _interrupts_driver():
    import threading

    if threading.current_thread() is not threading.main_thread():
        return False
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec is None or spec.name != "pydron.worker"


def _run_batch(key, fn, flags, payload, inputs):
    """Body of a batch task: each call as run_task would run it alone (its
    own log records, its own exception), one output each.

    A batch holds up to a few hundred calls of a few microseconds each, so
    the per-call steps are the cost: what run_task does per task through
    helpers (task_loads' scan for classes by value, capture_start/_end,
    encode_result) is done here inline, or once per batch where that
    gives the same answer for every call."""
    i = (1 if flags & F_FN_INPUT else 0) + (1 if flags & F_CODE else 0)
    copy = not (flags & F_FN_INPUT)
    cmap = CLASSMAPS.get(key) if copy and CLASSMAPS else None
    (n,) = BATCH_N.unpack_from(payload, HDR.size)
    pos = HDR.size + BATCH_N.size
    body = pos + BATCH_M.size * n
    # task_loads scans each call's pickle for a class by value; one scan of
    # all of them finds none when no call has one (a match across the
    # bytes of two calls only sends each call through task_loads).
    plain = not cmap and _SETSTATE.search(payload, body) is None
    out = []
    append, loads, dumps, plain_types = out.append, pickle.loads, pickle.dumps, _PLAIN
    # Log records and warnings: one list for the batch, handed over to a
    # call's result only when that call logged something (capture_start and
    # capture_end made two per call). Each call's records stay its own.
    collect = _settings.COLLECT
    tl = _settings._tl
    buf = None
    if collect:
        buf = tl.records = []
    # The calls that need none of the steps below (no buffer, placeholder or
    # log record, a plain result) run in C, in order, until one does; that
    # one continues here: before its call (kind 0), or after it with what it
    # returned (1) or raised (2).
    fast = _batch_plain if plain else None
    sd = _settings.__dict__
    # A function whose only setting is the program's logging levels and
    # warnings filters: they are applied before a call when they are not
    # the ones applied (as its wrapper does at each call), and fn itself is
    # called. lg None: the worker's defaults, restored as restore_logging
    # does (the C loop runs calls only while they are what is applied).
    lg = getattr(fn, "_pd_lg", None)
    call = fn.__wrapped__ if lg is not None else fn
    hp = pos  # the next member's head; body: its bytes
    k = 0
    t0 = _clock()
    try:
        while k < n:
            kind = 0
            if fast is not None:
                hp, body, ran, kind, val, i = fast(call, payload, hp, body, n - k, out,
                                                   plain_types, sd, tl, buf, lg, inputs, i)
                k += ran
                if kind == 3:
                    break
            recs = None
            try:
                if kind == 0:
                    nbuf, nfut, ln = BATCH_M.unpack_from(payload, hp)
                    hp += BATCH_M.size
                    data = payload[body:body + ln]
                    body += ln
                    k += 1
                    local = nbuf & M_LOCAL
                    if local:
                        nbuf &= ~M_LOCAL
                        bufs, futs = (), ()
                    if nbuf or nfut:
                        bufs, futs = inputs[i:i + nbuf], inputs[i + nbuf:i + nbuf + nfut]
                        i += nbuf + nfut
                    if nfut or local:
                        args, kwargs = _ArgUnpickler(data, bufs, futs, cmap, copy,
                                                     out if local else None).load()
                    elif not plain:
                        args, kwargs = task_loads(data, bufs if nbuf else None, cmap, copy=copy)
                    elif nbuf:
                        args, kwargs = loads(data, buffers=bufs)
                    else:
                        args, kwargs = loads(data)
                    if lg is not None:
                        if _settings._applied_log is not lg:
                            _settings._apply_logging(lg)
                    elif _settings._applied_log is not None:
                        _settings.restore_logging(fn)
                    res = call(*args, **kwargs)
                    del args, kwargs
                elif kind == 2:
                    try:
                        raise val  # the call's exception, as if raised here
                    finally:
                        val = None
                else:
                    res, val = val, None
                if type(res) is types.GeneratorType:
                    res = _Items(*_read_gen(res, "a task returns"))
                if collect:
                    if buf:
                        recs, buf = buf, []
                        tl.records = buf
                    elif tl.records is not buf:  # the call ran a task of its own here
                        tl.records = buf
                if recs:
                    res = _Logged(res, recs)
                try:
                    append(dumps(res, 5) if type(res) in plain_types else encode_result(res))
                except Exception as e:
                    err = _unpicklable_result(fn, e)
                    append(pickle.dumps(_MemberFailed(f"TypeError: {err}", encode_exception(err)), 5))
            except BaseException as e:
                if collect:
                    if buf:
                        recs, buf = buf, []
                    tl.records = buf
                if type(e) is KeyboardInterrupt and _interrupts_driver():
                    raise
                if type(e) is _core.TaskFailed:
                    failed = _MemberFailed(e.args[0], e.args[1] if len(e.args) > 1 else None)
                else:
                    failed = _MemberFailed(f"{type(e).__name__}: {e}", encode_exception(e, recs or None))
                append(pickle.dumps(failed, 5))
    finally:
        if collect:
            tl.records = None  # as capture_end leaves it
    SECONDS[key] = (_clock() - t0) / n
    return out[0] if n == 1 else out  # one output: its blob (bytes, or a list of parts)
