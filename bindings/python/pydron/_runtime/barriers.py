"""Resolution (a placeholder's value where Python looks at it), barriers
(wait for every task so far, in program order), failures and the undo log, and
unknown code, which runs behind a barrier and never sees a placeholder."""

import collections
import sys
import warnings
from types import MemberDescriptorType as _MemberDescriptorType
from time import monotonic_ns as _monotonic_ns

from .. import _core, _settings

from .._state import touch as _touch
from .._backend import _immutable
from . import hints as _hints
from .state import S, _exception, _result
from .state import npdirty as _npdirty, pending as _pending, records as _records, tainted as _tainted, undo as _undo
from .tables import _BuiltinType, _DICTS, _MethodType, _OPERAND_TYPES, _SCALARS, _numpy_type

_warn = warnings.warn
_settle_ready = _core.settle_ready
_getrefcount = sys.getrefcount


# --------------------------------------------------------------------------
# Resolution


def r(v):
    """Shallow resolve: the value a placeholder stands for."""
    if isinstance(v, S.Future):
        return _resolve(v)
    return v


def _resolve(fut):
    if type(fut) is S.Lazy:
        if fut.early is not None:
            ok, val = fut.ahead()   # (an item of an unpacked result that is there)
            if ok:
                _poll()
                return val
        # Everything before it runs first, raising in order; so do the
        # operations that read it (the driver may change the object), and all
        # pending ones if it may be part of a task result (x.T).
        _drain_to(None if fut.alias else max(fut.seq, fut._q))
        try:
            val = fut.result()
        except BaseException as e:
            _note_site(e, fut)
            raise
        _poll()
        return val
    if fut._q and _pending and _pending[0][0] <= fut._q:
        # deferred operations still read this value: they run before the
        # driver gets the object (and may change it)
        _drain_to(fut._q)
    try:
        val = _hints.waited(_result, fut) if _hints.ON and not fut.done() else _result(fut)
    except KeyboardInterrupt:
        raise  # Ctrl-C while waiting: not the task's failure
    except BaseException:
        failed = True
    else:
        failed = False
    if failed:
        # An earlier task's failure comes first in program order.
        barrier()
        try:
            return _result(fut)  # not pending any more: raise its own exception
        except BaseException as e:
            _note_site(e, fut)
            raise
    _poll()
    return val


def _note_site(exc, fut):
    """The traceback of a task's failure will point at the call that made it."""
    site = getattr(fut, "_site", None)
    if site is not None and not isinstance(exc, KeyboardInterrupt):
        S.failure_site = (exc, site)


def ro(v):
    """An operand of an operator or a truth test."""
    if isinstance(v, S.Future):
        v = _resolve(v)
    if _pending and type(v) not in _OPERAND_TYPES and not _numpy_type(type(v)):
        sync()  # a user-defined dunder method may have effects
    return v


def rdo(v):
    """A deep-resolved operand (comparisons, `%`)."""
    v = rdeep(v)
    if _pending:
        t = type(v)
        if (t not in _OPERAND_TYPES and not _numpy_type(t)) or \
                (t in _CONTAINERS and not _inert_value(v)):
            sync()  # a dunder of the program (an item's __eq__, __repr__) may have effects
    return v


_CONTAINERS = {list, tuple, set, frozenset, *_DICTS}


def _inert_value(v, depth=0):
    """Do comparing and formatting `v` run no code of the program? Scalars,
    numpy values (not of dtype object) and containers of them, a few levels
    deep (a container's items are compared and formatted with their own
    dunders: [star] == [other] runs Star.__eq__)."""
    t = type(v)
    if t in _SCALARS:
        return True
    if t in _CONTAINERS:
        if depth > 3:
            return False
        if t in _DICTS:
            return all(_inert_value(k, depth + 1) and _inert_value(x, depth + 1)
                       for k, x in v.items())
        return all(_inert_value(x, depth + 1) for x in v)
    if _numpy_type(t):
        dt = getattr(v, "dtype", None)
        return dt is not None and not dt.hasobject
    return False


def rdeep(v, _seen=None):
    """Resolve placeholders inside list/tuple/dict values too (lists and dicts in
    place, so aliases see the values; tuples are rebuilt)."""
    t = type(v)
    if t is list:
        if _seen is None:
            _seen = set()
        elif id(v) in _seen:
            return v
        _seen.add(id(v))
        for i, x in enumerate(v):
            if type(x) in _SCALARS:
                continue  # (no call per item of a list of a million results)
            y = rdeep(x, _seen)
            if y is not x:
                v[i] = y
        return v
    if t in _DICTS:
        if _seen is None:
            _seen = set()
        elif id(v) in _seen:
            return v
        _seen.add(id(v))
        for k, x in v.items():
            y = rdeep(x, _seen)
            if y is not x:
                v[k] = y
        return v
    if t is tuple:
        if _seen is None:
            _seen = set()
        items = [rdeep(x, _seen) for x in v]
        if any(a is not b for a, b in zip(items, v)):
            return tuple(items)
        return v
    if isinstance(v, S.Future):
        return _resolve(v)
    if t in _records:
        d = _slotted.get(t)
        if d is None:
            rdeep(v.__dict__, _seen)  # in place: a frozen dataclass's fields too
        else:
            _in_slots(rdeep, v, d, set() if _seen is None else _seen)
    return v


def _in_slots(fn, v, layout, seen):
    """fn(field, seen) (rdeep, _settle) over the fields of record v that has
    slots (layout: _slotted's), each set to what fn returns, in place (a
    frozen one's too); v's __dict__ beside them as a dict."""
    if id(v) in seen:
        return
    seen.add(id(v))
    if layout[1]:
        fn(v.__dict__, seen)
    for name in layout[0]:
        x = _getslot(v, name, _UNSET)
        if x is not _UNSET:
            y = fn(x, seen)
            if y is not x:
                _object_setattr(v, name, y)


_record_types = {}
# Records with __slots__ (@dataclass(slots=True)): class -> (the slot names
# of its classes, whether its objects also have a __dict__). Their fields
# are read and set through the slots' member descriptors (code of C).
_slotted = {}
_UNSET = object()
_object_setattr = object.__setattr__


def _getslot(v, name, default):
    try:
        return object.__getattribute__(v, name)
    except AttributeError:  # (a slot never set)
        return default


def _slot_layout(t):
    """(names, has_dict) of class t's slots, or None when a slot name is not
    a plain member descriptor on t (a property of a subclass over it). The
    names as copyreg._slotnames finds them (private ones mangled), without
    its caching them on the class."""
    names = []
    for c in t.__mro__:
        sl = c.__dict__.get("__slots__")
        if sl is None:
            continue
        for n in ([sl] if isinstance(sl, str) else sl):
            if n in ("__dict__", "__weakref__"):
                continue
            if n.startswith("__") and not n.endswith("__"):
                n = "_%s%s" % (c.__name__.lstrip("_"), n)
            names.append(n)
    for n in names:
        d = None
        for c in t.__mro__:
            if n in c.__dict__:
                d = c.__dict__[n]
                break
        if type(d) is not _MemberDescriptorType:
            return None
    return tuple(names), t.__dictoffset__ != 0


def _record_type(t):
    """May instances of class t hold placeholders in their __dict__ or slots
    (a record, settled like a list: state.records)? A class of the program
    (no metaclass, made by object.__new__) whose attribute access runs no
    code of the program: slots that are plain member descriptors
    (@dataclass(slots=True)), and no __getattribute__, __getattr__,
    __setattr__ or __delattr__ of its own (a frozen dataclass's are generated)."""
    ok = _record_types.get(t)
    if ok is None:
        mro = t.__mro__[:-1]
        slots = any("__slots__" in b.__dict__ for b in mro)
        layout = _slot_layout(t) if slots else None
        ok = (type(t) is type and t.__module__ != "builtins" and mro
              and t.__new__ is object.__new__
              and (not slots or layout is not None)
              and t.__getattribute__ is object.__getattribute__
              and not hasattr(t, "__getattr__")
              and (t.__setattr__ is object.__setattr__ or _generated(t.__setattr__))
              and (t.__delattr__ is object.__delattr__ or _generated(t.__delattr__)))
        if ok and slots:
            _slotted[t] = layout
        _record_types[t] = ok
    return ok


def _generated(fn):
    """Made by dataclasses (its __init__, a frozen class's __setattr__), not
    written in the program."""
    return getattr(getattr(fn, "__code__", None), "co_filename", "") == "<string>"


def _has_future(v, _seen=None):
    t = type(v)
    if t is list or t is tuple or t in _DICTS:
        if _seen is None:
            _seen = set()
        elif id(v) in _seen:
            return False
        _seen.add(id(v))
        return any(_has_future(x, _seen) for x in (v.values() if t in _DICTS else v))
    if t in _records:
        d = _slotted.get(t)
        if d is None:
            return _has_future(v.__dict__, _seen)
        if _seen is None:
            _seen = set()
        elif id(v) in _seen:
            return False
        _seen.add(id(v))
        return (d[1] and _has_future(v.__dict__, _seen)) or any(
            _has_future(_getslot(v, name, None), _seen) for name in d[0])
    return isinstance(v, S.Future)


def _taint(container, value):
    if _has_future(value):
        _tainted[id(container)] = container


# --------------------------------------------------------------------------
# Barriers, failures, undo


def _poll():
    """Drop finished tasks from the front, running deferred operations whose
    turn has come; raise the first failure once every task before it has
    finished."""
    while _pending:
        _settle_ready(True)  # the finished front, in C; what it leaves: below
        if not _pending:
            break
        if S.horizon is not None and _pending[0][0] > S.horizon:
            break  # any/all have not reached it (S.horizon)
        fut = _pending[0][1]
        if type(fut) is S.Lazy:
            # Every task and operation before it has finished: its turn.
            if fut.exception() is not None:
                if S.batching:
                    break  # (below)
                barrier()
        elif not fut.done():
            break
        elif _exception(fut) is not None:
            if S.batching:
                # steps taken ahead of their consumer (a submission waits
                # for the front when the window is full): a failure is
                # raised when the consumer reaches it, or forgotten if it
                # stops before
                break
            barrier()
        elif fut._l is not None:
            _settle_place(fut)
        S.pbytes -= fut._n
        _pop_front()
    if not _pending:
        _undo.clear()
        _npdirty.clear()
        return
    # Mutations made when only finished tasks had been called can no longer be undone.
    oldest = _pending[0][0]
    while _undo and _undo[0][0] < oldest:
        _undo.popleft()


def _settle_place(fut):
    """A finished task's immutable value takes the place of its placeholder in
    the list the program appended it to (if it is still there): a million
    calls keep a million values, not a million placeholders and graph values.
    Immutable only: a mutable result stays behind its placeholder, so later
    tasks given it still take the graph value (no copy through the driver)."""
    lid, i = fut._l
    fut._l = None
    lst = _tainted.get(lid)
    r = fut._r
    if r is not None and r[0] and type(lst) is list and i < len(lst) and lst[i] is fut \
            and _immutable(r[1]):
        lst[i] = r[1]


def _release_held(fut):
    """A task's output and log records held because its value was read
    before an earlier task's (_serialize._hand_on): they come now, its turn."""
    if type(fut) is S.Future and fut._o is not None:
        held, fut._o = fut._o, None
        _settings.forward(held)


def _pop_front():
    """Take the front of the pending queue (its held records come)."""
    _release_held(_pending.popleft()[1])


def _fail(seq, fut):
    _release_held(fut)  # what the failed task logged before it raised
    while _undo and _undo[-1][0] >= seq:
        _undo.pop()[1]()
    _undo.clear()
    _pending.clear()
    _npdirty.clear()  # the deferred stores after the failure never run
    S.pbytes = 0
    try:
        _result(fut)  # raises a fresh copy of the original exception
    except BaseException as e:
        S.last_failure = (seq, e)  # a lazy try body rolls its locals back to here
        _note_site(e, fut)
        raise
    raise AssertionError("pydron: failed task did not raise")  # pragma: no cover


def barrier():
    """Wait for every task submitted so far and run every deferred operation,
    in program order; raise the first failure (after rolling back mutations
    made after that task was called)."""
    if _pending and _core.trace_active():
        n = len(_pending)
        t0 = _monotonic_ns()
        try:
            _barrier()
        finally:  # a span on the driver's track of the trace, around its waits
            _core.trace_span("barrier", f"barrier ({n} pending)", t0, _monotonic_ns())
        return
    _barrier()


def _barrier():
    while _pending:
        # the finished front, in C; its immutable values take their
        # placeholders' places in lists, as _poll does (sync() then finds
        # values there, not a placeholder per item to resolve)
        _settle_ready(True)
        if not _pending:
            break
        seq, fut = _pending[0]
        if _wait_exception(fut) is None:
            if fut._l is not None:
                _settle_place(fut)
            S.pbytes -= fut._n
            _pop_front()
            continue
        _fail(seq, fut)
    S.pbytes = 0
    _undo.clear()
    _npdirty.clear()


def _wait_exception(fut):
    """_exception(fut): a task's waits noted for the hints (hints.py)."""
    if _hints.ON and type(fut) is S.Future and not fut.done():
        return _hints.waited(_exception, fut)
    return _exception(fut)


def _drain_to(upto):
    """barrier() up to program-order number `upto` (inclusive; None: all)."""
    if upto is None:
        upto = S.last_seq
    while _pending and _pending[0][0] <= upto:
        seq, fut = _pending[0]
        if _wait_exception(fut) is None:
            _pop_front()
            continue
        _fail(seq, fut)
    _poll()


def sync():
    """Barrier, then make every placeholder reachable by other code a value."""
    _touch()  # code that may change objects in place runs next
    if _pending:
        barrier()
    while _tainted:
        c = _tainted.popitem()[1]
        if _getrefcount(c) > 2:  # else only `c` held it: garbage, nobody can look
            rdeep(c)


def _settle(v, seen):
    """Placeholders of tasks that finished well replaced by their values."""
    t = type(v)
    if t is list or t in _DICTS:
        if id(v) in seen:
            return v
        seen.add(id(v))
        for k, x in (enumerate(v) if t is list else list(v.items())):
            y = _settle(x, seen)
            if y is not x:
                v[k] = y
        return v
    if t is tuple:
        items = tuple(_settle(x, seen) for x in v)
        return items if any(a is not b for a, b in zip(items, v)) else v
    if isinstance(v, S.Future) and v.done() and _exception(v) is None:
        return _result(v)
    if t in _records:
        d = _slotted.get(t)
        if d is None:
            _settle(v.__dict__, seen)
        else:
            _in_slots(_settle, v, d, seen)
    return v


def _settle_tainted():
    """After a failure: containers the caller may still see get the values of the
    tasks that succeeded (those of later, abandoned tasks were undone)."""
    while _tainted:
        _settle(_tainted.popitem()[1], set())


def _log(undo):
    if _pending:
        _undo.append((S.last_seq, undo))


def _log_snapshot(c):
    """A list or dict about to change: put back as it is now if a task
    called before fails."""
    if _pending:
        _undo.append((S.last_seq, _restorer(c)))


def _restorer(a):
    """What puts `a` (an array, list, bytearray, set or dict) back as it is
    now: a copy taken here. A dict (OrderedDict, defaultdict, Counter) gets
    its items again through its own methods: dict's own would leave an
    OrderedDict's order behind (list(od) empty, move_to_end a KeyError)."""
    t = type(a)
    if t is list or t is bytearray:
        saved = a[:]

        def undo():
            a[:] = saved
    elif t is set:
        saved = set(a)

        def undo():
            set.clear(a)
            set.update(a, saved)
    elif isinstance(a, dict):
        saved = dict(a)

        def undo():
            a.clear()
            a.update(saved)
    else:   # a numpy array
        saved = a.copy()

        def undo():
            sys.modules["numpy"].copyto(a, saved)  # a view's elements too: its base's memory
    return undo


# What the undo log holds for in-place operators (`acc += 1` on an array,
# `s |= {x}`): (tag, bytes) per copy, oldest first, dropped with the log's
# entries; past _SAVE_BUDGET bytes the operator waits for the tasks instead.
_saved = collections.deque()
_SAVE_BUDGET = 64 << 20
_saved_bytes = 0


def _save_before(a):
    """`a` is about to be changed in place by an operator (`a op= b`) while
    tasks run: what it holds goes to the undo log, so that when a task called
    before fails, the program finds `a` as the sequential program would (the
    operator never ran there). An array, list, dict, set or bytearray is
    copied once per task called, at most _SAVE_BUDGET bytes of copies held at
    once; anything else, or past that, waits for the tasks (barrier)."""
    global _saved_bytes
    if not _pending:
        return
    if not _undo:
        _saved.clear()
        _saved_bytes = 0
    while _saved and _saved[0][0] < _pending[0][0]:  # as _poll drops their entries
        _saved_bytes -= _saved.popleft()[1]
    seq = S.last_seq
    # one copy per object per task called: an earlier one holds what a
    # failure restores (looked for among the newest few entries)
    k = 0
    for tag, f in reversed(_undo):
        if tag != seq or k == 8:
            break
        if getattr(f, "obj", None) is a:
            return
        k += 1
    t = type(a)
    np = sys.modules.get("numpy")
    nd = np is not None and isinstance(a, np.ndarray)
    if nd:
        n = a.nbytes
    elif t is list or t in _DICTS or t is set or t is bytearray:
        n = 8 * len(a) + 64
    else:
        n = None
    if n is None or _saved_bytes + n > _SAVE_BUDGET:
        barrier()
        return
    undo = _restorer(a)
    undo.obj = a
    _undo.append((seq, undo))
    _saved.append((seq, n))
    _saved_bytes += n


def _unknown(f, args, kwargs):
    # Code we know nothing about: everything before it in program order happens
    # first, and it never sees a placeholder.
    if _pending:
        prev, _hints.reason = _hints.reason, f   # a wait here is this call's
        try:
            sync()
        finally:
            _hints.reason = prev
    else:
        sync()
    args = tuple(_settled(rdeep(a)) for a in args)
    for k, v in kwargs.items():
        kwargs[k] = _settled(rdeep(v))
    s = getattr(f, "__self__", None) if type(f) in (_MethodType, _BuiltinType) else None
    if type(s) in (list, dict, tuple):
        rdeep(s)
    if f is _warn:
        _warn_stacklevel(args, kwargs)
    elif _looks_at_caller(f):
        return _as_caller(f, args, kwargs)
    return f(*args, **kwargs)


def _warn_stacklevel(args, kwargs):
    # warnings.warn blames the frame `stacklevel` up: skip the runtime's own frames
    # (those of every module of this package).
    n, frame = 0, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__package__") == __package__:
        n += 1
        frame = frame.f_back
    if len(args) >= 3:
        return
    kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + n




from .escapes import _as_caller, _looks_at_caller, _settled  # noqa: E402  (escapes imports this module)
