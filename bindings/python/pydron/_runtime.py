"""What translated @schedule code calls (reached through the global `__pydron__`).

The translated body runs on the driver thread in program order and builds the
graph as it goes: a @functional call submits a task and returns its Future (a
placeholder) at once; the placeholder is resolved only where Python would look at
the value. Everything else that may observe or cause effects waits behind a
*barrier* (all tasks submitted so far, in submission order = program order).

State is per driver (module globals): the driver is one thread.
"""

import collections
import dataclasses
import functools
import itertools
import logging
import math
import operator
import sys
import threading
import types
import warnings

_warn = warnings.warn
log = logging.getLogger("pydron")

_FunctionType = types.FunctionType
_MethodType = types.MethodType
_BuiltinType = types.BuiltinFunctionType

# Tasks submitted and not yet known to have succeeded, oldest first: (seq, future).
_pending = collections.deque()
# dict types whose item stores and methods run no user code
_DICTS = {dict, collections.defaultdict, collections.OrderedDict, collections.Counter}
# The thread running the outermost @schedule call; translated code run by any
# other thread (or by no @schedule call) is plain Python.
_driver = None
_get_ident = threading.get_ident
_getrefcount = sys.getrefcount
_partial = functools.partial
_seq = itertools.count(1)
_last_seq = 0
# Undo entries for container/attribute mutations done while tasks were pending:
# (seq of the last task submitted before the mutation, undo callable).
_undo = collections.deque()
# Containers that may hold Futures and that code other than the translated one may
# reach (id -> container); resolved in place before unknown code runs.
_tainted = {}
# How many pending tasks before the driver waits for the oldest (keeps memory flat).
WINDOW = 10000


class _NoFuture:
    pass


_Future = _NoFuture  # the backend's Future class, set when the session starts
_Lazy = _NoFuture    # the backend's Lazy class (deferred driver operations)
_backend = None
# Code objects produced by the translator (nested defs and lambdas of @schedule
# bodies): safe to hand to the pure builtins (sorted(key=...), max(key=...)).
_translated_codes = set()
# Nested defs of @schedule bodies wrapped by the nested pass (enter_nested/leave).
_lazy_codes = set()
_next_lazy = False


def session():
    # Not cached: pydron.configure() may replace the session between calls.
    global _backend, _Future, _Lazy
    if _backend is None:
        from . import _backend as backend

        _Future = backend.Future
        _Lazy = backend.Lazy
        backend.drain_to = _drain_to
        _backend = backend
    return _backend.session()


# --------------------------------------------------------------------------
# Calls into the backend. The inline executor runs task bodies inside them, on
# this thread: translated code reached from a task body must run as plain Python.

_in_backend = False


def _in_backend_call(fn, *args):
    global _in_backend
    prev, _in_backend = _in_backend, True
    try:
        return fn(*args)
    finally:
        _in_backend = prev


def _result(fut):
    return _in_backend_call(fut.result)


def _exception(fut):
    return _in_backend_call(fut.exception)


# --------------------------------------------------------------------------
# Resolution


def r(v):
    """Shallow resolve: the value a placeholder stands for."""
    if isinstance(v, _Future):
        return _resolve(v)
    return v


def _resolve(fut):
    if type(fut) is _Lazy:
        # Everything before it runs first, raising in order; so do the
        # operations that read it (the driver may change the object), and all
        # pending ones if it may be part of a task result (x.T).
        _drain_to(None if fut.alias else max(fut.seq, fut._q))
        val = fut.result()
        _poll()
        return val
    if fut._q and _pending and _pending[0][0] <= fut._q:
        # deferred operations still read this value: they run before the
        # driver gets the object (and may change it)
        _drain_to(fut._q)
    try:
        val = _result(fut)
    except BaseException:
        failed = True
    else:
        failed = False
    if failed:
        # An earlier task's failure comes first in program order.
        barrier()
        return _result(fut)  # not pending any more: raise its own exception
    _poll()
    return val


def ro(v):
    """An operand of an operator or a truth test."""
    if isinstance(v, _Future):
        v = _resolve(v)
    if _pending and type(v) not in _OPERAND_TYPES and not _numpy_type(type(v)):
        sync()  # a user-defined dunder method may have effects
    return v


def rdo(v):
    """A deep-resolved operand (comparisons, `%`)."""
    v = rdeep(v)
    if _pending and type(v) not in _OPERAND_TYPES and not _numpy_type(type(v)):
        sync()
    return v


def _numpy_type(t):
    return t.__module__ == "numpy"


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
    if isinstance(v, _Future):
        return _resolve(v)
    return v


def _has_future(v, _seen=None):
    t = type(v)
    if t is list or t is tuple or t in _DICTS:
        if _seen is None:
            _seen = set()
        elif id(v) in _seen:
            return False
        _seen.add(id(v))
        return any(_has_future(x, _seen) for x in (v.values() if t in _DICTS else v))
    return isinstance(v, _Future)


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
        fut = _pending[0][1]
        if type(fut) is _Lazy:
            # Every task and operation before it has finished: its turn.
            if fut.exception() is not None:
                barrier()
        elif not fut.done():
            break
        elif _exception(fut) is not None:
            barrier()
        _pending.popleft()
    if not _pending:
        _undo.clear()
        return
    # Mutations made when only finished tasks had been called can no longer be undone.
    oldest = _pending[0][0]
    while _undo and _undo[0][0] < oldest:
        _undo.popleft()


_last_failure = None  # (program-order number, exception) of the last failure raised


def _fail(seq, fut):
    global _last_failure
    while _undo and _undo[-1][0] >= seq:
        _undo.pop()[1]()
    _undo.clear()
    _pending.clear()
    try:
        _result(fut)  # raises a fresh copy of the original exception
    except BaseException as e:
        _last_failure = (seq, e)  # a lazy try body rolls its locals back to here
        raise
    raise AssertionError("pydron: failed task did not raise")  # pragma: no cover


# --------------------------------------------------------------------------
# try bodies that run in parallel (see _translate/trybody.py)

UNBOUND = object()  # a local that had no value before a store that is rolled back


def try_enter():
    """The log of local stores of one run of a lazy try body."""
    return []


def lsave(tk, loc, names):
    """Before storing `names` while tasks are pending: their current values,
    tagged with the last task called before the store."""
    if not _pending or not _on_driver():
        return  # plain Python (another thread, a task): nothing to roll back
    s = _last_seq
    if tk and tk[0][0] < _pending[0][0]:
        # stores made when only finished tasks had been called stay: forget
        # them (a long loop keeps the log, and the old values, small)
        oldest = _pending[0][0]
        del tk[:next((i for i, e in enumerate(tk) if e[0] >= oldest), len(tk))]
    for n in names:
        tk.append((s, n, loc.get(n, UNBOUND)))


def try_exit(tk):
    """End of a lazy try body (or a return/break leaving it): a task called in
    it fails here, inside the try, so the handlers see it."""
    if _pending and _on_driver():
        barrier()
    tk.clear()


def try_fail(tk, exc):
    """An exception leaves a lazy try body: the one to raise (a task called
    earlier fails first) and the locals to roll back to that point."""
    if not isinstance(exc, KeyboardInterrupt) and _pending and _on_driver():
        try:
            barrier()
        except BaseException as first:  # earlier in program order
            first.__suppress_context__ = True
            exc = first
    rb = {}
    lf = _last_failure
    if lf is not None and lf[1] is exc:
        for seq, name, old in tk:
            if seq >= lf[0] and name not in rb:
                rb[name] = old
    tk.clear()
    return rb, exc


def barrier():
    """Wait for every task submitted so far and run every deferred operation,
    in program order; raise the first failure (after rolling back mutations
    made after that task was called)."""
    while _pending:
        seq, fut = _pending[0]
        if _exception(fut) is None:
            _pending.popleft()
            continue
        _fail(seq, fut)
    _undo.clear()


def _drain_to(upto):
    """barrier() up to program-order number `upto` (inclusive; None: all)."""
    if upto is None:
        upto = _last_seq
    while _pending and _pending[0][0] <= upto:
        seq, fut = _pending[0]
        if _exception(fut) is None:
            _pending.popleft()
            continue
        _fail(seq, fut)
    _poll()


def sync():
    """Barrier, then make every placeholder reachable by other code a value."""
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
    if isinstance(v, _Future) and v.done() and _exception(v) is None:
        return _result(v)
    return v


def _settle_done(v):
    return _settle(v, set())


def _settle_tainted():
    """After a failure: containers the caller may still see get the values of the
    tasks that succeeded (those of later, abandoned tasks were undone)."""
    while _tainted:
        _settle(_tainted.popitem()[1], set())


def _log(undo):
    if _pending:
        _undo.append((_last_seq, undo))


def _log_snapshot(c):
    if not _pending:
        return
    if type(c) is list:
        saved = c[:]

        def undo():
            c[:] = saved
    else:
        saved = dict(c)

        def undo():
            c.clear()
            dict.update(c, saved)
    _undo.append((_last_seq, undo))


# --------------------------------------------------------------------------
# Calls


def _submit(fn, args, kwargs):
    global _last_seq
    fut = _in_backend_call(session().submit, fn, args, kwargs)
    _last_seq = next(_seq)
    _pending.append((_last_seq, fut))
    if len(_pending) > WINDOW:
        _exception(_pending[0][1])
        _poll()
    elif _pending[0][0] <= _last_lazy and not _batching:
        front = _pending[0][1]
        if type(front) is _Lazy or front.done():
            _poll()  # deferred operations whose turn has come run now
    return fut


def call(f, /, *args, **kwargs):
    """A call in the body of a @schedule function; what it does depends on the callee."""
    if _driver != _get_ident() or _in_backend:
        # Translated code run elsewhere (a closure called by a task thread, after
        # the @schedule call returned, in a worker): plain Python.
        return f(*args, **kwargs)
    f = r(f)
    tf = type(f)
    if _pending and tf is not _FunctionType and tf is not _MethodType:
        if f is _print:
            lz = _defer_print(args, kwargs)
            if lz is not None:
                return lz
        else:
            ids = _deferrable_ids or _deferrable_funcs()
            name = ids.get(id(f))
            if name is not None and not (kwargs and "out" in kwargs):
                lz = _defer_func(f, name, args, kwargs)
                if lz is not None:
                    return lz
    if tf is _FunctionType or tf is _MethodType:
        kind = getattr(f, "__pydron_kind__", None)
        if kind == "functional":
            if tf is _MethodType:
                return _submit(f.__func__.__pydron_functional__, (f.__self__,) + args, kwargs)
            return _submit(f.__pydron_functional__, args, kwargs)
        if kind == "schedule":
            if tf is _MethodType:
                return f.__func__.__pydron_lazy__(f.__self__, *args, **kwargs)
            return f.__pydron_lazy__(*args, **kwargs)
        if (f.__code__ if tf is _FunctionType else getattr(f.__func__, "__code__", None)) in _lazy_codes:
            return _call_nested(f, args, kwargs)
    elif tf is _BuiltinType:
        st = type(f.__self__)
        if st is list or st in _DICTS:
            op = _CONTAINER_OPS.get((st if st is list else dict, f.__name__))
            if op is not None and st is not list and st is not dict \
                    and getattr(st, f.__name__, None) is not getattr(dict, f.__name__, None):
                op = None  # overridden by the subclass
            if op is not None:
                return op(f.__self__, *args, **kwargs)
        elif st in _IMMUTABLE and all(map(_plain, args)) and all(map(_plain, kwargs.values())):
            # "-".join(parts), "{}".format(x), (1.5).is_integer(): no user code runs.
            args = tuple(rdeep(a) for a in args)
            for k, v in kwargs.items():
                kwargs[k] = rdeep(v)
            return f(*args, **kwargs)
    if tf is type and id(f) in _SAFE_WRAP and all(_plain(a) or _steppable(a) for a in args):
        return _SAFE_WRAP[id(f)](*args, **kwargs)  # enumerate(gen), zip(gen, lst): stepped later
    if tf is _BuiltinType or tf is type:
        if id(f) in _PURE_IDS and all(map(_plain, args)) and all(map(_plain, kwargs.values())):
            if id(f) in _SHALLOW_IDS:
                # len(lst) does not look at the items.
                return f(*map(r, args), **kwargs)
            if id(f) in _CONSUMER_IDS:
                # zip/enumerate over placeholders: the consumer looks at the items.
                args = tuple(map(rdeep, a) if type(a) in (_Zip, _Enumerate) else
                             _consumed(f, a) if type(a) is _Map or isinstance(a, _Steps) else rdeep(a)
                             for a in args)
            else:
                args = tuple(rdeep(a) for a in args)
            for k, v in kwargs.items():
                kwargs[k] = rdeep(v)
            wrap = _SAFE_WRAP.get(id(f))
            if wrap is not None:
                return wrap(*args, **kwargs)
            if id(f) in _CONSUMER_IDS:
                return _consume(f, args, kwargs)
            return f(*args, **kwargs)
    if tf is _partial and type(f.func) in (_FunctionType, _MethodType) \
            and getattr(f.func, "__pydron_kind__", None) is not None:
        return call(f.func, *f.args, *args, **{**f.keywords, **kwargs})
    if f is map and not kwargs:
        return _make_map(args)
    if tf is type and _plain_constructor(f):
        args = tuple(rdeep(a) for a in args)
        for k, v in kwargs.items():
            kwargs[k] = rdeep(v)
        return f(*args, **kwargs)
    return _unknown(f, args, kwargs)


# --------------------------------------------------------------------------
# Deferred driver operations (look-ahead)
#
# A statement part that looks at a value not computed yet would make the driver
# wait, and no later task would be added meanwhile: `print(i, x.mean())` or
# `total += y.sum()` in a loop would run the loop one task at a time. Instead
# such an operation becomes a Lazy placeholder queued in _pending with the
# tasks, in program order; it runs on the driver when everything before it has
# finished (so output order, and which exception comes first, stay sequential).
# Only operations that cannot change what later driver code sees are deferred:
# print to the current sys.stdout/sys.stderr, formatting, and reading methods
# and builtins over values of known effect-free categories (numpy, numbers,
# strings). Everything they read is a placeholder or an immutable value.

_NP_METHODS = frozenset("""
    all any argmax argmin argsort astype conj conjugate copy cumprod cumsum diagonal dot
    flatten item max mean min nonzero prod ptp ravel repeat reshape round squeeze std sum
    swapaxes take tobytes tolist trace transpose var view __len__ __getitem__ __abs__
    __neg__ __float__ __int__
""".split())
_STR_METHODS = frozenset("""
    capitalize casefold center count encode endswith find format index isalnum isalpha
    isdigit islower isnumeric isspace istitle isupper join ljust lower lstrip partition
    removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip split
    splitlines startswith strip swapcase title upper zfill decode hex
""".split())
_NUM_METHODS = frozenset("as_integer_ratio bit_length conjugate hex is_integer __round__".split())
_SEQ_METHODS = frozenset("count index copy __len__ __getitem__".split())
_SAFE_METHODS = {"nd": _NP_METHODS, "str": _STR_METHODS, "num": _NUM_METHODS, "seq": _SEQ_METHODS}
_TRUSTED = frozenset(_SAFE_METHODS) | {"none"}
_print = print
_method_ops = {}
_deferrable_ids = None  # id(builtin or numpy function) -> name
_NP_FUNCS = """
    abs absolute all allclose amax amin any argmax argmin argsort around array_equal average
    ceil clip concatenate count_nonzero cumsum diff dot exp floor hstack isclose isfinite
    isinf isnan linspace log log10 max mean median min nanmax nanmean nanmedian nanmin
    nanstd nansum percentile polyfit prod quantile round sign sin cos sort sqrt square stack
    std sum unique var vstack where
""".split()


_base_ids = {id(f): f.__name__ for f in (float, int, str, bool, abs, len, round, min, max, sum,
                                         repr, format, sorted, tuple)}


def _deferrable_funcs():
    global _deferrable_ids
    np = sys.modules.get("numpy")
    if np is None:
        return _base_ids
    ids = dict(_base_ids)
    for name in _NP_FUNCS:
        f = getattr(np, name, None)
        if f is not None:
            ids[id(f)] = name
    _deferrable_ids = ids  # complete: numpy is loaded
    return ids


def _method_op(name):
    op = _method_ops.get(name)
    if op is None:
        def op(obj, *args, **kwargs):
            return getattr(obj, name)(*args, **kwargs)
        _method_ops[name] = op
    return op


def _capture(v):
    """1: a placeholder not computed yet (of a trusted category); 0: a value a
    deferred operation may read later, unchanged; -1: neither."""
    if type(v) is _Lazy:
        if not v.ran:
            return 1  # the result of a reading operation on trusted values
        if v._x and v.exc is None and not _backend._immutable(v.val):
            return -1
        return 0
    if isinstance(v, _Future):
        if not v.done():
            return 1 if v.category() in _TRUSTED else -1
        if v._x:  # driver code holds the object and may change it
            return 0 if _backend._immutable(v._r[1]) else -1
        return 0 if v.category() in _TRUSTED else -1
    t = type(v)
    if t in _SCALARS:
        return 0
    if (t is tuple or t is frozenset) and _backend._immutable(v):
        return 0
    if t.__name__ != "ndarray" and _backend.category(v) == "nd":
        return 0  # numpy scalars are immutable
    return -1


def _scan(args, kwargs):
    """Max over _capture of the arguments, -1 if any cannot be captured."""
    st = 0
    for a in args:
        c = _capture(a)
        if c < 0:
            return -1
        st |= c
    if kwargs:
        for a in kwargs.values():
            c = _capture(a)
            if c < 0:
                return -1
            st |= c
    return st


_FRESH_METHODS = frozenset("""
    all any argmax argmin argsort astype conj conjugate copy cumprod cumsum dot item max mean
    min nonzero prod ptp round std sum tobytes tolist trace var count index __len__ __abs__
    __neg__ __float__ __int__ is_integer as_integer_ratio bit_length hex __round__
""".split()) | _STR_METHODS


def _aliasing(key, args):
    """May the operation's result share (mutable) parts with a task result it
    reads? (x.T, x[0], x.reshape(...), max of a list of lists)."""
    kind = key[0]
    if kind == "m":
        return key[1] != "str" and key[2] not in _FRESH_METHODS
    if kind == "g":
        return key[1] in ("T", "real", "imag")
    if kind == "i":
        return key[1] != "str"
    if kind in ("b", "a", "c"):
        return any(type(a) is _Future and a.category() == "seq" for a in args)
    return False


_last_lazy = 0  # program-order number of the newest deferred operation


def _defer(op, args, kwargs, key, cat):
    global _last_seq, _last_lazy
    seq = _last_seq = _last_lazy = next(_seq)
    lz = _Lazy(seq, op, args, kwargs, key, cat)
    alias = lz.alias = _aliasing(key, args)
    for a in args:
        if isinstance(a, _Future):
            a._q = seq
            if alias and type(a) is _Future:
                a._a = True
    if kwargs:
        for a in kwargs.values():
            if isinstance(a, _Future):
                a._q = seq
    _pending.append((seq, lz))
    return lz


def _on_driver():
    return _driver == _get_ident() and not _in_backend


def mcall(obj, name, /, *args, **kwargs):
    """`obj.name(...)`: deferred if obj is a placeholder not computed yet whose
    category makes `name` a reading method; else an ordinary call."""
    if type(obj) is list and _driver == _get_ident() and not _in_backend:
        # lst.append(x) in a loop: straight to the placeholder-aware list op
        op = _LIST_OPS.get(name)
        if op is not None:
            return op(obj, *args, **kwargs)
    elif isinstance(obj, _Future):
        if not obj.done():
            if _on_driver():
                c = obj.category()
                if c is not None and name in _SAFE_METHODS.get(c, ()) and _scan(args, kwargs) >= 0:
                    key = ("m", c, name)
                    return _defer(_method_op(name), (obj,) + args, kwargs, key,
                                  _backend.RESULT_CATS.get(key))
        elif type(obj) is _Future and name in _FRESH_METHODS and not obj._x and _on_driver() \
                and _scan(args, kwargs) == 0 and _exception(obj) is None \
                and name in _SAFE_METHODS.get(obj.category(), ()):
            # A reading method of a finished result (c.mean() when c is done):
            # no effects, so no barrier, and the driver never holds the object,
            # so later tasks given c still take the task's own value.
            return _method_op(name)(obj.peek(), *[_peek(a) for a in args],
                                    **{k: _peek(v) for k, v in kwargs.items()})
        obj = r(obj)
    return call(_getattr(obj, name), *args, **kwargs)


_BOPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
         "//": operator.floordiv, "**": operator.pow, "@": operator.matmul}
_FN_STATE = frozenset(("__defaults__", "__kwdefaults__", "__closure__"))
_ND_ATTRS = frozenset("shape ndim size dtype T real imag nbytes itemsize".split())


def bop(op, a, b):
    """`a op b` (not %): deferred while an operand is a placeholder not computed
    yet and the other can be read later; else both resolved, as `ro(a) op ro(b)`."""
    if _pending and (isinstance(a, _Future) or isinstance(b, _Future)) and _on_driver():
        ca, cb = _capture(a), _capture(b)
        if ca >= 0 and cb >= 0 and (ca | cb) == 1:
            key = ("b", op)
            return _defer(_BOPS[op], (a, b), None, key, _backend.RESULT_CATS.get(key))
    a = ro(a)
    return _BOPS[op](a, ro(b))


def item(obj, index):
    """`obj[index]` (a load)."""
    if isinstance(obj, _Future) and not obj.done() and _on_driver():
        c = obj.category()
        if c in ("nd", "seq", "str") and _capture(index) == 0:
            key = ("i", c)
            return _defer(operator.getitem, (obj, index), None, key, _backend.RESULT_CATS.get(key))
    return r(obj)[index]


def attr(obj, name):
    """`obj.name` (a load, not a call)."""
    if type(obj) is _FunctionType and name in _FN_STATE:
        _settled(obj)
    if isinstance(obj, _Future):
        if not obj.done() and name in _ND_ATTRS and _on_driver() and obj.category() == "nd":
            key = ("g", name)
            return _defer(getattr, (obj, name), None, key, _backend.RESULT_CATS.get(key))
        obj = r(obj)
    return _getattr(obj, name)


def _getattr(obj, name):
    """getattr, after a barrier if it runs code of the program (a property,
    __getattr__): code pydron does not see."""
    if _pending and type(obj) not in _PLAIN_ATTR and _runs_code(type(obj), name, False) \
            and _on_driver():
        sync()
    return getattr(obj, name)


# Types whose attribute access runs no user code.
_PLAIN_ATTR = {types.ModuleType, type, int, float, complex, str, bytes, list, tuple, dict, set,
               frozenset, bool, type(None), types.FunctionType, types.MethodType,
               types.BuiltinFunctionType}
_attr_code = {}
_PLAIN_DESCR = (types.FunctionType, staticmethod, classmethod, types.MemberDescriptorType,
                types.GetSetDescriptorType, types.BuiltinFunctionType, types.WrapperDescriptorType,
                types.MethodDescriptorType, types.ClassMethodDescriptorType)


def _runs_code(t, name, store):
    """Does reading (store=False) or setting attribute `name` of a `t` run code
    of the program: a property or other descriptor, __getattr__,
    __getattribute__, __setattr__? Types of C extensions (numpy, ...) do not."""
    k = (t, name, store)
    v = _attr_code.get(k)
    if v is not None:
        return v
    v = False
    if getattr(t, "__module__", "builtins") not in ("builtins", "numpy") \
            and type(t).__module__ == "builtins" and hasattr(t, "__dict__"):
        if store:
            v = t.__setattr__ is not object.__setattr__
        else:
            v = t.__getattribute__ is not object.__getattribute__
        found = False
        for c in t.__mro__:
            d = c.__dict__.get(name, _MISSING)
            if d is not _MISSING:
                found = True
                if not isinstance(d, _PLAIN_DESCR) and (
                        hasattr(type(d), "__set__" if store else "__get__")):
                    v = True
                break
        if not found and not store and hasattr(t, "__getattr__"):
            v = True  # an instance attribute, or __getattr__
    if len(_attr_code) > 4096:
        _attr_code.clear()
    try:
        _attr_code[k] = v
    except TypeError:
        pass
    return v


def _peek(v):
    return v.peek() if isinstance(v, _Future) else v


def _format_op(v, conv, spec):
    if conv == 115:
        v = str(v)
    elif conv == 114:
        v = repr(v)
    elif conv == 97:
        v = ascii(v)
    return format(v, spec)


def fv(v, conv=-1, spec=""):
    """One `{v!conv:spec}` of an f-string, formatted now (the f-string's own
    order of evaluation) or deferred if v is a placeholder not computed yet."""
    if isinstance(v, _Future) or type(spec) is _Lazy:
        if _pending and _on_driver() and (_capture(v) | _capture(spec)) == 1:
            return _defer(_format_op, (v, conv, spec), None, ("f",), "str")
        v = rdeep(v)
        spec = r(spec)
    elif type(v) in _RDEEP_FORMAT:
        v = rdeep(v)
    return _format_op(v, conv, spec)


_RDEEP_FORMAT = {list, tuple, dict, collections.defaultdict, collections.OrderedDict,
                 collections.Counter}


def _join_op(*parts):
    return "".join(parts)


def fjoin(*parts):
    """The f-string of formatted parts (some may be deferred)."""
    for p in parts:
        if type(p) is _Lazy:
            return _defer(_join_op, parts, None, ("j",), "str")
    return "".join(parts)


def _print_op(*args, **kwargs):
    _print(*args, **kwargs)


def _defer_print(args, kwargs):
    """print() while tasks or operations are pending: queued in program order,
    unless an argument is something that may change before its turn."""
    for k, v in kwargs.items():
        if k == "file":
            if v is not None and v is not sys.stdout and v is not sys.stderr:
                return None
        elif k in ("sep", "end"):
            if v is not None and type(v) is not str:
                return None
        elif k != "flush":
            return None
    out = []
    for a in args:
        c = _capture(a)
        if c < 0:
            if isinstance(a, _Future) or _backend.category(a) is None:
                return None
            a = str(a)  # a value of an effect-free category: its text now
        out.append(a)
    kw = dict(kwargs)
    if kw.get("file") is None:
        kw["file"] = sys.stdout  # the stream print would write to now
    return _defer(_print_op, tuple(out), kw, ("p",), "none")


def _defer_func(f, name, args, kwargs):
    if _scan(args, kwargs) != 1:
        return None
    key = ("c", name)
    return _defer(f, args, kwargs, key, _backend.RESULT_CATS.get(key))


def _call_nested(f, args, kwargs):
    # Tell the nested def (its first statement asks) that its caller takes placeholders.
    global _next_lazy
    _next_lazy = True
    try:
        return f(*args, **kwargs)
    finally:
        _next_lazy = False


def enter_nested():
    """First statement of a nested def: was it called by translated code?"""
    global _next_lazy
    lazy, _next_lazy = _next_lazy, False
    return lazy


def leave(lazy, value):
    """Return of a nested def: plain values for callers that are not translated code."""
    if lazy:
        return value
    if _driver == _get_ident() and not _in_backend:
        sync()
    return rdeep(value)


def nested_error(exc):
    """An exception leaves a nested def: a task called before it fails first."""
    if _driver == _get_ident() and not _in_backend and _pending and not isinstance(exc, KeyboardInterrupt):
        try:
            barrier()
        except BaseException as first:
            first.__suppress_context__ = True
            raise


_constructors = {}
_MISSING = dataclasses.MISSING


def _plain_constructor(cls):
    """A dataclass whose generated __init__ only stores fields runs no user code:
    building one in a loop needs no barrier."""
    ok = _constructors.get(cls)
    if ok is None:
        init = cls.__dict__.get("__init__")
        fields = cls.__dict__.get("__dataclass_fields__")
        ok = (fields is not None and init is not None
              and getattr(getattr(init, "__code__", None), "co_filename", "") == "<string>"
              and not hasattr(cls, "__post_init__") and cls.__new__ is object.__new__
              and all(type(b).__name__ == "type" for b in cls.__mro__)
              and all(f.default_factory in (list, dict, set, _MISSING) for f in fields.values())
              and all(_constructors.get(b, True) for b in cls.__mro__[1:-1]))
        _constructors[cls] = ok
    return ok


def _unknown(f, args, kwargs):
    # Code we know nothing about: everything before it in program order happens
    # first, and it never sees a placeholder.
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
    # warnings.warn blames the frame `stacklevel` up: skip the runtime's own frames.
    n, frame = 0, sys._getframe(1)
    while frame is not None and frame.f_globals is globals():
        n += 1
        frame = frame.f_back
    if len(args) >= 3:
        return
    kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + n


def ecall(f, /, *args, **kwargs):
    """A call where parallelism is not safe (try/with bodies, nested functions,
    lambdas, generators): runs to completion, exceptions raised right here."""
    if _driver != _get_ident() or _in_backend:
        return f(*args, **kwargs)
    if _pending:
        barrier()
    f = r(f)
    if type(f) in (_FunctionType, _MethodType) and getattr(f, "__pydron_kind__", None) == "schedule":
        res = f(*args, **kwargs)  # the strict entry: waits and resolves at exit
    else:
        res = call(f, *args, **kwargs)
    if _pending:
        barrier()
    return rdeep(res)


def run_strict(inner, args, kwargs):
    """Entry of a @schedule function called by code that expects plain values."""
    global _driver
    me = _get_ident()
    if _driver is None:
        if _in_worker():
            return inner(*args, **kwargs)  # inside a task: plain Python
        _driver = me
        try:
            return _run_strict(inner, args, kwargs)
        finally:
            _driver = None
            _closures.clear()
    if _driver != me or _in_backend:
        return inner(*args, **kwargs)  # another thread or a task body: plain Python
    return _run_strict(inner, args, kwargs)


def _in_worker():
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec is not None and spec.name == "pydron.worker"


def _run_strict(inner, args, kwargs):
    try:
        res = inner(*args, **kwargs)
    except BaseException as e:
        exc = e
    else:
        exc = None
    if exc is not None:
        try:
            _exit_error(exc)
        finally:
            _settle_tainted()
            _settle_closures(_settle_done)
        raise exc
    try:
        sync()
        _settle_closures()
        return rdeep(res)
    except BaseException:
        _settle_tainted()
        _settle_closures(_settle_done)
        raise


def run_lazy(inner, /, *args, **kwargs):
    """Entry of a @schedule function called from another one outside try/with:
    the return value may hold placeholders; failures still surface in order."""
    try:
        return inner(*args, **kwargs)
    except BaseException as e:
        exc = e
    _exit_error(exc)
    raise exc


def _exit_error(exc):
    # A task called before the exception was raised fails first in program order.
    if not isinstance(exc, KeyboardInterrupt) and _pending:
        barrier()


# --------------------------------------------------------------------------
# Builtins that neither look at placeholders inside containers they are not
# given nor have effects: no barrier, arguments resolved.

_PURE = [
    abs, all, any, ascii, bin, bool, bytes, callable, chr, complex, dict, divmod,
    enumerate, float, format, frozenset, hash, hex, id, int, isinstance, issubclass,
    len, list, max, min, oct, ord, pow, range, repr, reversed, round, set, slice,
    sorted, str, sum, tuple, type, zip,
] + [v for v in vars(math).values() if type(v) is _BuiltinType]
_PURE_IDS = {id(f) for f in _PURE}
_SHALLOW_IDS = {id(f) for f in (len, isinstance, issubclass, type, id, callable)}
_CONSUMER_IDS = {id(f) for f in (list, tuple, set, frozenset, dict, sorted, sum, min, max, any, all)}


class _Enumerate(enumerate):
    """enumerate over a safe iterable: iterating it runs no user code."""


class _Zip(zip):
    """zip over safe iterables."""


def _wrap_enumerate(it, *a, **k):
    if _safe_iterable(it):
        return _Enumerate(it, *a, **k)
    if _steppable(it) and not k and len(a) <= 1:
        return _LazyEnumerate(it, *a)
    return enumerate(it, *a, **k)


def _wrap_zip(*its, **k):
    if all(map(_safe_iterable, its)):
        return _Zip(*its, **k)
    if any(map(_steppable, its)) and all(_safe_iterable(i) or _steppable(i) for i in its):
        return _LazyZip(*its, **k)
    return zip(*its, **k)


_SAFE_WRAP = {id(enumerate): _wrap_enumerate, id(zip): _wrap_zip}
for _cls, _like in ((_Enumerate, enumerate), (_Zip, zip)):
    _cls.__name__ = _cls.__qualname__ = _like.__name__  # what the program sees
    _cls.__module__ = "builtins"

_SAFE_ITER = {
    list, tuple, dict, set, frozenset, str, bytes, bytearray, range,
    type({}.keys()), type({}.values()), type({}.items()),
    type(iter([])), type(reversed([])), type(iter(())), type(iter(range(1))),
    _Enumerate, _Zip,
}
_OPERAND_TYPES = {int, float, complex, bool, str, bytes, bytearray, type(None), list, tuple, dict,
                  set, frozenset, range, slice, type, type({}.keys()), type({}.values()),
                  type({}.items()), type(Ellipsis), types.FunctionType, types.BuiltinFunctionType,
                  types.MethodType, collections.defaultdict, collections.OrderedDict,
                  collections.Counter}
_IMMUTABLE = {str, bytes, int, float, complex, bool, tuple, frozenset, range}
_SCALARS = {int, float, complex, bool, str, bytes, type(None), type(Ellipsis), slice}


def _safe_iterable(v):
    t = type(v)
    return t in _SAFE_ITER or (t.__name__ == "ndarray" and t.__module__ == "numpy")


def _plain(v):
    """May a pure builtin be given `v` without running unknown code?"""
    t = type(v)
    if t in _SCALARS or t in _SAFE_ITER or isinstance(v, _Future):
        return True
    if t is _Map or isinstance(v, _Steps):
        return True
    if t is _FunctionType:
        return v.__code__ in _translated_codes
    return t.__module__ == "numpy"


# --------------------------------------------------------------------------
# Iteration


def it(v):
    """An iterable about to be iterated (for, unpacking, comprehension, *args)."""
    v = r(v)
    if _safe_iterable(v):
        return v
    t = type(v)
    if t is _Map or isinstance(v, _Steps):
        return v._lazy() if _on_driver() else v
    if getattr(t, "__iter__", None) is None and not hasattr(t, "__getitem__"):
        # not iterable: Python's own message where it iterates ("cannot unpack
        # non-iterable int object", "argument after * must be an iterable")
        return v
    return _guarded(iter(_sync_then(v)))


def _sync_then(v):
    sync()
    return v




# --------------------------------------------------------------------------
# Stores into containers and objects


def setitem(obj, key, value):
    obj = r(obj)
    key = rdeep(key)
    t = type(obj)
    if t is list:
        if type(key) is slice:
            value = r(value)  # a slice store iterates the value
        if _pending:
            if type(key) is slice:
                _log_snapshot(obj)
            else:
                try:
                    old = obj[key]
                except (IndexError, TypeError):
                    pass  # the store below raises Python's own error
                else:
                    def undo():
                        obj[key] = old
                    _log(undo)
        obj[key] = value
        _taint(obj, value)
    elif t in _DICTS:
        if _pending and type(key) not in _SCALARS and type(key) is not tuple:
            sync()  # a key's __hash__/__eq__ may be code of the program
        if _pending:
            if key in obj:
                old = obj[key]

                def undo():
                    obj[key] = old
            else:
                def undo():
                    del obj[key]
            _log(undo)
        obj[key] = value
        _taint(obj, value)
    else:
        sync()
        obj[key] = rdeep(value)


def delitem(obj, key):
    obj = r(obj)
    key = rdeep(key)
    t = type(obj)
    if t is list or t in _DICTS:
        _log_snapshot(obj)
        del obj[key]
    else:
        sync()
        del obj[key]


def setattr_(obj, name, value):
    obj = r(obj)
    value = rdeep(value)
    if _pending and type(obj) not in _PLAIN_ATTR and _runs_code(type(obj), name, True):
        sync()  # a property setter or __setattr__
    if _pending:
        try:
            old = getattr(obj, name)
        except AttributeError:
            def undo():
                delattr(obj, name)
        else:
            def undo():
                setattr(obj, name, old)
        _log(undo)
    setattr(obj, name, value)


def gstore(g, name, value):
    """The value for `name = value` where `name` is declared global."""
    value = rdeep(value)
    if _pending:
        if name in g:
            old = g[name]

            def undo():
                g[name] = old
        else:
            def undo():
                g.pop(name, None)
        _log(undo)
    return value


def delattr_(obj, name):
    obj = r(obj)
    sync()
    delattr(obj, name)


_AUG = {
    "+": operator.iadd, "-": operator.isub, "*": operator.imul, "/": operator.itruediv,
    "//": operator.ifloordiv, "%": operator.imod, "**": operator.ipow,
    "<<": operator.ilshift, ">>": operator.irshift, "&": operator.iand,
    "|": operator.ior, "^": operator.ixor, "@": operator.imatmul,
}


def aug(op, a, b):
    """`a op= b`; returns the new value to bind."""
    if _pending and (type(a) is _Lazy or type(b) is _Lazy or isinstance(a, _Future)
                     or isinstance(b, _Future)) and _on_driver():
        ca, cb = _capture(a), _capture(b)
        # the left operand must not be an array a task returned (+= would change
        # it in place, under aliases of the same Future)
        if ca >= 0 and cb >= 0 and (ca | cb) == 1 and op != "%" and not (
                type(a) is _Future and a.category() in ("nd", "seq")):
            key = ("a", op)
            return _defer(_AUG[op], (a, b), None, key, _backend.RESULT_CATS.get(key))
    a = r(a)
    if op == "+" and type(a) is list:
        b = r(b)
        if type(b) in (list, tuple):
            _list_extend(a, b)
            return a
    b = rdeep(b) if op == "%" else r(b)
    return _AUG[op](a, b)


# --------------------------------------------------------------------------
# list and dict methods that accept placeholders without looking at them


def _list_append(lst, v, /):
    if _pending:
        _log(lst.pop)
    lst.append(v)
    _taint(lst, v)


def _list_extend(lst, iterable, /):
    iterable = r(iterable)
    if not _safe_iterable(iterable):
        return _unknown(lst.extend, (iterable,), {})
    if _pending:
        n = len(lst)

        def undo():
            del lst[n:]
        _log(undo)
    lst.extend(iterable)
    if type(iterable) in (list, tuple) or type(iterable) is type({}.values()):
        _taint(lst, list(iterable))


def _list_insert(lst, i, v, /):
    _log_snapshot(lst)
    lst.insert(r(i), v)
    _taint(lst, v)


def _list_pop(lst, *i):
    if i:
        _log_snapshot(lst)
    elif lst and _pending:
        _log(lambda v=lst[-1]: lst.append(v))
    return lst.pop(*map(r, i))


def _list_clear(lst, /):
    _log_snapshot(lst)
    lst.clear()


def _list_reverse(lst, /):
    _log(lst.reverse)
    lst.reverse()


def _list_copy(lst, /):
    c = lst.copy()
    if id(lst) in _tainted:
        _tainted[id(c)] = c
    return c


def _dict_setitem(d, k, v, /):
    setitem(d, k, v)


def _dict_update(d, *other, **kw):
    other = tuple(r(o) for o in other)
    if other and type(other[0]) is not dict:
        if not (type(other[0]) in (list, tuple) and all(type(p) is tuple for p in other[0])):
            return _unknown(d.update, other, kw)
        other = ({rdeep(k): v for k, v in other[0]},)
    other = tuple({rdeep(k): v for k, v in o.items()} for o in other)
    _log_snapshot(d)
    d.update(*other, **kw)
    for o in other:
        _taint(d, list(o.values()))
    _taint(d, list(kw.values()))


def _dict_setdefault(d, k, v=None, /):
    k = rdeep(k)
    if k not in d:
        if _pending:
            _log(lambda: d.pop(k, None))
        _taint(d, v)
    return d.setdefault(k, v)


def _dict_pop(d, k, *default):
    k = rdeep(k)
    _log_snapshot(d)
    return d.pop(k, *default)


def _dict_popitem(d, /):
    _log_snapshot(d)
    return d.popitem()


def _dict_clear(d, /):
    _log_snapshot(d)
    d.clear()


def _dict_get(d, k, default=None, /):
    return d.get(rdeep(k), default)


def _dict_copy(d, /):
    c = d.copy()
    if id(d) in _tainted:
        _tainted[id(c)] = c
    return c


_CONTAINER_OPS = {
    (list, "append"): _list_append,
    (list, "extend"): _list_extend,
    (list, "insert"): _list_insert,
    (list, "pop"): _list_pop,
    (list, "clear"): _list_clear,
    (list, "reverse"): _list_reverse,
    (list, "copy"): _list_copy,
    (dict, "__setitem__"): _dict_setitem,
    (dict, "update"): _dict_update,
    (dict, "setdefault"): _dict_setdefault,
    (dict, "pop"): _dict_pop,
    (dict, "popitem"): _dict_popitem,
    (dict, "clear"): _dict_clear,
    (dict, "get"): _dict_get,
    (dict, "copy"): _dict_copy,
    (dict, "keys"): dict.keys,
    # A view hands out the values to whoever iterates it.
    (dict, "values"): lambda d: rdeep(d).values(),
    (dict, "items"): lambda d: rdeep(d).items(),
}


slice_ = slice


def raise_recursion_limit():
    # Each @schedule level adds a frame for the runtime's dispatch.
    if sys.getrecursionlimit() < 3000:
        sys.setrecursionlimit(3000)


_LIST_OPS = {name: op for (t, name), op in _CONTAINER_OPS.items() if t is list}


# --------------------------------------------------------------------------
# What the program sees of its frame and of the functions it made: nothing of
# pydron's (internal names, placeholders). See _translate/calls.py, closures.py.

import weakref as _weakref


def _internal_name(name):
    return name.startswith("_pd_") or name == "__pydron__"


def locals_(loc):
    """locals()/vars() in translated code: the program's names, with values."""
    return {k: rdeep(v) for k, v in loc.items() if not _internal_name(k)}


def dir_(loc):
    """dir() in translated code."""
    return sorted(k for k in loc if not _internal_name(k))


def _code_namespaces(g, loc, args, kwargs):
    """eval/exec arguments with the caller's namespaces where Python would take them."""
    if kwargs or not args or len(args) > 3:
        return args  # Python's own error, or keywords it knows (closure=)
    src = rdeep(args[0])
    gl = args[1] if len(args) > 1 else None
    lo = args[2] if len(args) > 2 else None
    if gl is None:
        gl = g
        if lo is None:
            lo = loc
    elif lo is None:
        lo = gl
    if lo is loc:  # the frame's own: drop what is pydron's
        for k in [k for k in loc if _internal_name(k)]:
            del loc[k]
        for k, v in loc.items():
            if isinstance(v, _Future) or type(v) in (list, tuple, dict):
                loc[k] = rdeep(v)
    return (src, gl, lo)


def eval_(g, loc, /, *args, **kwargs):
    """eval(...) in translated code (the caller's globals() and locals() first)."""
    if _on_driver():
        sync()
    return eval(*_code_namespaces(g, loc, args, kwargs), **kwargs)


def exec_(g, loc, /, *args, **kwargs):
    """exec(...) in translated code."""
    if _on_driver():
        sync()
    return exec(*_code_namespaces(g, loc, args, kwargs), **kwargs)


class _Star:
    """`f(*a, **k)` in translated code is `star(f)(*a, **k)`: Python checks `*` and
    `**` while building the call and names the callee in its message
    (`f() argument after * must be an iterable, not int`); this object carries
    f's name for it, then calls through `call`/`ecall`."""

    __slots__ = ("f", "how")

    def __init__(self, f, how):
        self.f = f
        self.how = how

    def __call__(self, /, *args, **kwargs):
        return self.how(self.f, *args, **kwargs)

    # what CPython's message reads (_PyObject_FunctionStr): only on the error path
    __module__ = property(lambda self: getattr(r(self.f), "__module__", None))

    def __getattr__(self, name):
        if name == "__qualname__":
            return getattr(r(self.f), name)
        raise AttributeError(name)

    def __str__(self):
        return str(r(self.f))


def star(f):
    return _Star(f, call)


def estar(f):
    return _Star(f, ecall)


def deco(d):
    """`@d` in translated code: applying the decorator is a call like any other
    (unknown code waits for earlier tasks and sees values)."""
    return _partial(call, d)


def edeco(d):
    return _partial(ecall, d)


# Functions made by translated code while a @schedule call runs (id -> weak
# reference): their defaults and the cells they close over may hold
# placeholders; they get values before code that is not translated can look.
_closures = {}
_closures_prune = 1024


def closure(fn):
    global _closures_prune
    if _driver is not None and _on_driver():
        _closures[id(fn)] = _weakref.ref(fn)
        if len(_closures) > _closures_prune:
            for k in [k for k, w in _closures.items() if w() is None]:
                del _closures[k]
            _closures_prune = max(1024, 2 * len(_closures))
    return fn


def _settle_fn(fn, value):
    """Defaults and closure cells of `fn` with `value(v)` in place of placeholders."""
    d = fn.__defaults__
    if d and _has_future(d):
        fn.__defaults__ = tuple(value(v) for v in d)
    kd = fn.__kwdefaults__
    if kd and _has_future(kd):
        fn.__kwdefaults__ = {k: value(v) for k, v in kd.items()}
    for c in fn.__closure__ or ():
        try:
            v = c.cell_contents
        except ValueError:  # not bound yet
            continue
        if _has_future(v):
            new = value(v)
            if new is not v:
                c.cell_contents = new


def _settle_closures(value=None, only=None):
    """Give registered functions values (rdeep: wait; after a failure, `value`
    gives those of finished tasks only)."""
    value = value or rdeep
    for k, w in list(_closures.items() if only is None else
                     ((id(f), _closures.get(id(f))) for f in only)):
        fn = w() if w is not None else None
        if fn is None:
            _closures.pop(k, None)
            continue
        _settle_fn(fn, value)


def _settled(v):
    """A registered function is about to be looked at by other code."""
    if type(v) is _FunctionType and id(v) in _closures:
        _settle_closures(only=(v,))
    return v


# Code that looks at its caller's frame (logging's funcName/lineno, sys._getframe,
# inspect.currentframe/stack, traceback.print_stack) is called by the runtime:
# it must see the program's frame, not pydron's.

def _pydron_frames():
    """(the program's frame, how many pydron frames lie above it), from the caller's caller."""
    n, frame = 0, sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("pydron."):
        n += 1
        frame = frame.f_back
    return frame, n


_LOG_METHODS = frozenset("debug info warning warn error exception critical fatal log".split())


def _looks_at_caller(f):
    if f is sys._getframe:
        return True
    m = sys.modules
    t = type(f)
    if t is _MethodType or t is _FunctionType:
        name = f.__name__
        if name in _LOG_METHODS and "logging" in m:
            lg = m["logging"]
            return (t is _MethodType and isinstance(f.__self__, (lg.Logger, lg.LoggerAdapter))) \
                or f is getattr(lg, name, None)
        ins, tb = m.get("inspect"), m.get("traceback")
        return (ins is not None and (f is ins.currentframe or f is ins.stack)) or \
            (tb is not None and (f is tb.print_stack or f is tb.extract_stack or f is tb.format_stack))
    return False


def _as_caller(f, args, kwargs):
    frame, n = _pydron_frames()
    if f is sys._getframe or f is sys.modules["inspect"].__dict__.get("currentframe"):
        depth = args[0] if args else kwargs.get("depth", 0)
        if f is not sys._getframe or type(depth) is not int or depth < 0:
            depth = 0 if f is not sys._getframe else depth
        for _ in range(depth):
            frame = frame.f_back if frame is not None else None
        if frame is None:
            return f(*args, **kwargs) if f is sys._getframe else None  # Python's own error
        return frame
    if f.__name__ in _LOG_METHODS:
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + n + 1  # and _as_caller itself
        return f(*args, **kwargs)
    if f.__name__ == "stack":
        return sys.modules["inspect"].getouterframes(frame, *args, **kwargs)
    # traceback.print_stack/extract_stack/format_stack(f=None, limit=None, ...)
    if not args and kwargs.get("f") is None:
        kwargs["f"] = frame
    return f(*args, **kwargs)


# --------------------------------------------------------------------------
# Loops over iterators of the program (generators, map(...), progress-bar
# wrappers): the iterator is driver code and runs in program order; a step
# need not wait for earlier tasks when that is provably the same as waiting
# (docs/python.md "Loops over iterators"). Where it is not, the step waits
# and the "pydron" logger says why (once per iterator code).

import dis as _dis


def _tuple_args(*items):
    return items


class _Map(map):
    """map(f, *iterables) made by translated code. A translated loop (it())
    steps it as a loop body would call f, through call(): a @functional f
    submits its task without waiting. Anyone else iterating it gets values."""

    def __new__(cls, f, *iterables):
        srcs = tuple(_step_source(i) for i in iterables)
        self = map.__new__(cls, _tuple_args, *srcs)
        self._f = f
        return self

    def __next__(self):
        items = map.__next__(self)
        if _on_driver():
            return rdeep(call(self._f, *items))
        return self._f(*items)

    def _lazy(self):
        f = self._f
        while True:
            try:
                items = map.__next__(self)
            except StopIteration:
                return
            yield call(f, *items)


class _Steps:
    """enumerate(...)/zip(...) over iterators that a translated loop steps lazily."""


class _LazyEnumerate(enumerate, _Steps):
    def __new__(cls, inner, start=0):
        self = enumerate.__new__(cls, _values(inner), start)
        self._inner, self._start = inner, start
        return self

    def _lazy(self):
        return enumerate(_lazy_iter(self._inner), self._start)


class _LazyZip(zip, _Steps):
    def __new__(cls, *inner, **kw):
        self = zip.__new__(cls, *map(_values, inner), **kw)
        self._inner, self._kw = inner, kw
        return self

    def _lazy(self):
        return zip(*map(_lazy_iter, self._inner), **self._kw)


for _cls, _like in ((_Map, map), (_LazyEnumerate, enumerate), (_LazyZip, zip)):
    _cls.__name__ = _cls.__qualname__ = _like.__name__  # what the program sees
    _cls.__module__ = "builtins"


def _values(inner):
    """What code that is not translated iterates: values."""
    return inner if type(inner) is not _Map else iter(inner)


def _steppable(v):
    """Is `v` an iterator whose steps a translated loop can take lazily?"""
    t = type(v)
    return t is _Map or isinstance(v, _Steps) or t is _GeneratorType


def _lazy_iter(v):
    """The placeholders-allowed iteration of `v` (for translated loops)."""
    t = type(v)
    if t is _Map or isinstance(v, _Steps):
        return v._lazy()
    if _safe_iterable(v):
        return v
    return _guarded(iter(_sync_then(v)))


def _step_source(v):
    """An iterable map()/zip() steps: itself if that runs no code of the program."""
    if _safe_iterable(v) or type(v) is _Map or isinstance(v, _Steps):
        return v
    return _guarded(iter(v))


_GeneratorType = types.GeneratorType


def _make_map(args):
    if len(args) < 2:
        return map(*args)  # Python's own error
    return _Map(*args)


def _guarded(iterator):
    """Step an iterator of the program: without waiting when that is provably the
    same as sequential (_step_ahead), else behind a barrier; a failure of an
    earlier task comes before the iterator's own exception."""
    while True:
        if (_pending or _tainted) and not _step_ahead(iterator):
            sync()
        try:
            v = next(iterator)
        except StopIteration:
            return
        except BaseException as e:
            if _pending and _on_driver() and not isinstance(e, KeyboardInterrupt):
                try:
                    barrier()
                except BaseException as first:
                    first.__suppress_context__ = True
                    raise
            raise
        yield v


_ahead_why = {}  # code or type -> why its steps wait (None: they need not)


def _step_ahead(iterator, depth=0):
    """May the next step of `iterator` run before earlier tasks finish? Yes for
    iterators that run no code of the program (list, file, ...), for translated
    generators (they wait where they must themselves), and for generators
    whose code stores only its own locals (or attributes of its first argument,
    logged so that an earlier failure undoes them), calls only builtins without
    effects, imports nothing, and whose locals and globals hold no placeholder."""
    t = type(iterator)
    if t in _SAFE_ITER or t in _FILE_ITERS:
        return True
    if t is _Map or isinstance(iterator, _Steps):
        return True  # it steps its sources through _guarded itself
    if t is not _GeneratorType:
        _why(t, lambda: f"iterator of type {t.__qualname__} runs code pydron does not see "
                        f"(its __next__)")
        return False
    code = iterator.gi_code
    if code in _translated_codes:
        return True
    frame = iterator.gi_frame
    if frame is None:
        return True  # finished: next() raises StopIteration
    static = _gen_code_check(code)
    if static is not None:
        _why(code, lambda: static)
        return False
    why = _gen_state_check(code, frame, depth)
    if why is not None:
        _why(code, lambda: why, once=False)
        return False
    if code in _STORES_SELF and _pending:
        obj = frame.f_locals[code.co_varnames[0]]
        saved = dict(obj.__dict__)

        def undo():
            obj.__dict__.clear()
            obj.__dict__.update(saved)
        _log(undo)
    return True


def _why(key, why, once=True):
    if key in _ahead_why and once:
        return
    reason = why()
    _ahead_why[key] = reason
    if log.isEnabledFor(logging.DEBUG):
        where = key
        if isinstance(key, types.CodeType):
            where = f"{key.co_qualname} ({key.co_filename}:{key.co_firstlineno})"
        log.debug("pydron: a loop over %s waits for earlier tasks at each step: %s", where, reason)


_FORBIDDEN_OPS = {
    "STORE_GLOBAL": "stores a global", "DELETE_GLOBAL": "deletes a global",
    "STORE_DEREF": "stores a variable of an enclosing function",
    "DELETE_DEREF": "deletes a variable of an enclosing function",
    "STORE_SUBSCR": "stores into an item", "DELETE_SUBSCR": "deletes an item",
    "DELETE_ATTR": "deletes an attribute", "IMPORT_NAME": "imports", "IMPORT_FROM": "imports",
    "IMPORT_STAR": "imports", "LOAD_BUILD_CLASS": "makes a class",
    "SETUP_ANNOTATIONS": "annotates", "BEFORE_WITH": "uses 'with'",
    "PRINT_EXPR": "prints", "LOAD_METHOD": "calls a method", "PUSH_NULL": "calls a function",
    "CALL_FUNCTION_EX": "calls a function", "GET_AWAITABLE": "awaits",
}
_gen_static = {}
_STORES_SELF = set()  # generator codes that store attributes of their first argument
_GEN_GLOBALS = {}     # code -> (names read, names called)


def _gen_code_check(code):
    """Static part of _step_ahead (cached per code object): None or why not."""
    if code in _gen_static:
        return _gen_static[code]
    why = None
    calls = 0
    called, read = set(), set()
    ins = list(_dis.get_instructions(code))
    self_name = code.co_varnames[0] if code.co_argcount else None
    for i, x in enumerate(ins):
        op = x.opname
        line = x.positions.lineno if x.positions else None
        if op in _FORBIDDEN_OPS:
            why = f"it {_FORBIDDEN_OPS[op]} (line {line})"
            break
        if op == "LOAD_ATTR" and x.argrepr.startswith("NULL|self"):
            why = f"it calls a method (line {line})"
            break
        if op == "CALL":
            calls += 1
        elif op == "LOAD_GLOBAL":
            (called if x.arg & 1 else read).add(x.argval)
        elif op == "STORE_ATTR":
            if self_name is None or not _stores_self(ins, i, self_name):
                why = f"it stores an attribute of an object other than its first argument (line {line})"
                break
            _STORES_SELF.add(code)
        elif op == "MAKE_FUNCTION":
            why = f"it makes a function (line {line})"
            break
    if why is None and calls != sum(1 for x in ins if x.opname == "LOAD_GLOBAL" and x.arg & 1):
        why = "it calls something other than a builtin"
    _gen_static[code] = why
    _GEN_GLOBALS[code] = (read, called)
    return why


def _stores_self(ins, i, self_name):
    prev = ins[i - 1] if i else None
    if prev is not None and prev.opname == "LOAD_FAST" and prev.argval == self_name:
        return True  # self.x = value
    if prev is not None and prev.opname == "SWAP":  # self.x op= value
        name = ins[i].argval
        for j in range(i - 1, 1, -1):
            if ins[j].opname == "LOAD_ATTR" and ins[j].argval == name and ins[j - 1].opname == "COPY" \
                    and ins[j - 2].opname == "LOAD_FAST" and ins[j - 2].argval == self_name:
                return True
    return False


_MODULE = types.ModuleType


def _plain_value(v, depth):
    """Can code running ahead read `v` without seeing a placeholder or running
    code of the program (shallow, as the barrier of other builtins: items of
    containers are not looked into)?"""
    t = type(v)
    if t in _SCALARS or t is _MODULE or t in _IMMUTABLE:
        return t is not tuple or all(not isinstance(x, _Future) for x in v)
    if t is list or t in _DICTS or t is set:
        return id(v) not in _tainted
    if t in _SAFE_ITER or t in _FILE_ITERS or _safe_iterable(v):
        return True
    if isinstance(v, _Future):
        return False
    if t is _Map or isinstance(v, _Steps):
        return True
    if t is _GeneratorType:
        return depth < 3 and _step_ahead(v, depth + 1)
    if t is _BuiltinType and id(v) in _PURE_IDS:
        return True
    return False


def _gen_state_check(code, frame, depth):
    """Run-time part of _step_ahead: the generator's locals, the attributes of
    its first argument (if it stores them) and the globals it reads."""
    loc = frame.f_locals
    stores_self = code in _STORES_SELF
    for k, v in loc.items():
        if stores_self and k == code.co_varnames[0]:
            t = type(v)
            if not hasattr(v, "__dict__") or t.__setattr__ is not object.__setattr__ or \
                    t.__getattribute__ is not object.__getattribute__ or \
                    any(_runs_code(t, n, True) or _runs_code(t, n, False) for n in v.__dict__):
                return f"its first argument {k!r} is an object whose attributes run code"
            for n, a in v.__dict__.items():
                if not _plain_value(a, depth):
                    return f"{k}.{n} is a {type(a).__qualname__} (may run code or hold a placeholder)"
            continue
        if not _plain_value(v, depth):
            return f"its variable {k!r} is a {type(v).__qualname__} (may run code or hold a placeholder)"
    read, called = _GEN_GLOBALS[code]
    g = frame.f_globals
    b = g.get("__builtins__", builtins_dict)
    b = b if type(b) is dict else vars(b)
    for n in called:
        f = g.get(n, b.get(n))
        if id(f) not in _PURE_IDS or f is _iter or f is _next:
            return f"it calls {n}, which is not a builtin without effects"
    for n in read:
        v = g.get(n, b.get(n))
        if n not in g and n in b:
            continue
        if not _plain_value(v, depth):
            return f"it reads the global {n!r}, a {type(v).__qualname__}"
    return None


import builtins as _builtins
import io as _io

builtins_dict = vars(_builtins)
_iter, _next = iter, next
# Reading a file runs no code of the program and sees no placeholder.
_FILE_ITERS = {_io.TextIOWrapper, _io.BufferedReader, _io.BytesIO, _io.StringIO}


_SHORT_CIRCUIT = {id(any), id(all)}


def _consumed(consumer, it):
    """A lazily stepped iterator given to a builtin that consumes it whole (list,
    sum, sorted, ...): every step is taken first (all tasks submitted), then the
    values are read in order. any/all may stop early: one step at a time."""
    if not _on_driver():
        return it
    if id(consumer) in _SHORT_CIRCUIT:
        return map(rdeep, it._lazy())
    if consumer is list or consumer is tuple:
        return it._lazy()  # a list of placeholders, as a display would hold
    global _batching
    before = _last_seq
    _batching = True  # no failure raised while the steps are taken: the consumer comes first
    try:
        steps = list(it._lazy())
    finally:
        _batching = False
    return _InOrder(before, steps)


_batching = False


class _InOrder:
    """The values of steps already taken, read in program order: the consumer
    sits between step i and step i + 1, so a later step's failure must not be
    raised while it reads step i (no _poll here)."""

    def __init__(self, before, steps):
        self.before = before  # program-order number of the last task before the steps
        self.steps = steps
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= len(self.steps):
            raise StopIteration
        x = self.steps[self.i]
        if type(x) is _Future:
            try:
                v = _result(x)
            except BaseException:
                _wait_upto(self.before)  # an earlier task's failure comes first
                self.i += 1
                self.abandon()
                raise
        else:
            v = rdeep(x)
        self.i += 1
        return v

    def abandon(self):
        """The consumer stopped at step i: sequential code never took the later
        steps, so their tasks are forgotten (no failure of theirs is raised)."""
        later = {id(x) for x in self.steps[self.i:] if isinstance(x, _Future)}
        if later:
            kept = [e for e in _pending if id(e[1]) not in later]
            _pending.clear()
            _pending.extend(kept)


def _consume(f, args, kwargs):
    try:
        return f(*args, **kwargs)
    except BaseException:
        for a in args:
            if type(a) is _InOrder:
                _wait_upto(a.before)  # an earlier task's failure comes first
                a.abandon()
        raise


def _wait_upto(upto):
    """Raise the first failure of the tasks up to `upto` (program order), and no
    later one (unlike _drain_to, which then polls)."""
    while _pending and _pending[0][0] <= upto:
        seq, fut = _pending[0]
        if _exception(fut) is None:
            _pending.popleft()
            continue
        _fail(seq, fut)
