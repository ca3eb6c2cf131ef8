"""Calls: what a call in a @schedule body does depends on the callee; the
entries of @schedule functions (strict and lazy) and of nested defs."""

import dis as _dis
import functools
import math
import os
import statistics
import sys

from . import hints as _hints
from .errors import _PKG
from .. import _core, _state
from .barriers import (_generated, _has_future, _poll, _record_type, _settle_tainted, _unknown,
                       barrier, r, rdeep, sync)
from .lookahead import (_FRESH_METHODS, _SAFE_METHODS, _defer, _defer_func, _defer_print,
                        _deferrable_funcs, _getattr, _method_op, _peek, _print, _runs_code, _scan)
from .state import S, _exception, _get_ident, _on_driver, session
from .state import lazy_codes as _lazy_codes, pending as _pending, seq as _seq
from .state import records as _records, tainted as _tainted, undo as _undo
from .state import translated_codes as _translated_codes
from .escapes import _closures, _settle_closures, _settle_done
from .iterators import (_InOrder, _LazyEnumerate, _LazyZip, _Map, _Steps, _consume, _consumed,
                        _consumed_gen, _make_map, _same_failure, _steppable, _wrapped)
from .genexps import twin_source as _twin_source
from . import genexps as _genexps
from .. import _serialize
from .iterwrap import _ITERTOOLS, _is_chain_from_iterable, _wrap_itertools
from .stores import _CONTAINER_OPS, _LIST_OPS
from .logcalls import deferred as _log_deferred, log_call as _log_call
from .tables import (_BuiltinType, _DICTS, _Enumerate, _FunctionType, _IMMUTABLE, _MISSING,
                     _MethodType, _PATH_ARGS, _PATH_FUNCS, _PATH_METHODS, _PATH_TYPES,
                     _PURE_METHOD_TYPES, _SAFE_ITER, _SCALARS, _Zip, _safe_iterable)

_partial = functools.partial
_call_site = _core.call_site
_ModuleType = type(sys)
_CO_GENERATOR = 0x20  # inspect.CO_GENERATOR
_GeneratorType = type(x for x in ())


# --------------------------------------------------------------------------
# Calls


def _submit(fn, args, kwargs):
    for a in args:
        if type(a) is _GeneratorType:
            args, kwargs = _gen_args(args, kwargs)
            break
    else:
        if kwargs and _GeneratorType in map(type, kwargs.values()):
            args, kwargs = _gen_args(args, kwargs)
    prev, S.in_backend = S.in_backend, True  # _in_backend_call, inlined (per task)
    try:
        fut = session().submit(fn, args, kwargs)
    finally:
        S.in_backend = prev
    return _track(fut)


def _gen_args(args, kwargs):
    """A task's arguments with each generator expression that has a lazy twin
    (`total(f(x) for x in xs)`) read through its twin's steps: every task of
    its items is submitted before the first is waited for, then the values
    are read in order, as sum() reads them (read as the generator itself, it
    waited for each item's task before it submitted the next). Other
    generators are read whole when the arguments are pickled
    (_serialize._gen_reduce)."""
    return (tuple(_gen_arg(a) if type(a) is _GeneratorType else a for a in args),
            {k: _gen_arg(v) if type(v) is _GeneratorType else v for k, v in kwargs.items()}
            if kwargs else kwargs)


def _gen_arg(gen):
    """The values the task's generator gives (_serialize._Items), and the
    failure of the item where it stops: an item's own failure (its task's,
    or its expression's) is raised inside the task at that item, as the
    generator raises it there in plain Python (a task that catches it goes
    on); a failure of an earlier statement's task is the program's, raised
    here."""
    if _twin_source(gen) is None or not _on_driver():
        return gen
    ino = _consumed_gen(None, gen)
    if type(ino) is not _InOrder:
        return gen
    vals, exc = [], None
    while True:
        lf = S.last_failure
        # past the steps: the generator itself, from the item its twin could not take
        eager = ino.i >= len(ino.steps) and ino.rest is not None \
            and type(ino.rest) is not _genexps._GxSource
        try:
            v = next(ino)
        except StopIteration:
            break
        except Exception as e:  # noqa: BLE001 - the item's own, or the program's
            if _state.program_failure(e) or not _own_failure(ino, e, lf, eager):
                raise
            exc = e
            break
        vals.append(v)
    return _serialize._Items(vals, exc)


def _own_failure(ino, e, lf, eager):
    """Did reading the next item of `ino` raise that item's own failure?"""
    if eager:
        # the expression raised on the driver; a task's failure raised by a
        # barrier in it is not known to be this item's: the program's
        return S.last_failure is lf
    x = ino.steps[ino.i - 1] if ino.i else None
    if not isinstance(x, S.Future):
        return False
    return _same_failure(e, _exception(x))


def _submit_rest(fn, ent, k, args, kwargs):
    """_submit once the function's version (ent) and batch size (k) are known:
    where the C fast path (pydron._core.call) hands back a call it does not
    take over after asking for them."""
    prev, S.in_backend = S.in_backend, True
    try:
        fut = session()._submit_ent(fn, ent, args, kwargs, k)
    finally:
        S.in_backend = prev
    return _track(fut)


def _track(fut):
    """A task just submitted joins the pending queue (the C fast path does
    the same in C, and calls _front_poll for the last branch)."""
    fut._site = _call_site(_PKG)  # its failure's traceback points at the call
    S.last_seq = next(_seq)
    _pending.append((S.last_seq, fut))
    S.pbytes += fut._n
    if len(_pending) > S.window or S.pbytes > S.window_bytes:
        _shrink()
    elif _pending[0][0] <= S.last_lazy and not S.batching:
        _front_poll()
    return fut


def _front_poll():
    front = _pending[0][1]
    if type(front) is S.Lazy or front.done():
        _poll()  # deferred operations whose turn has come run now


def _shrink():
    """Too many tasks or bytes pending: wait for the oldest until both the
    count and the byte budget hold again (the producer pauses; results not
    yet consumed do not pile up)."""
    if S.pbytes > S.window_bytes:
        # exact again (an upper bound: a few rare removals do not subtract);
        # not at every call past the count window (O(window) each)
        S.pbytes = sum(f._n for _, f in _pending)
    while _pending and (len(_pending) > S.window or S.pbytes > S.window_bytes):
        front = _pending[0][1]
        _exception(front)
        _poll()  # subtracts what it removes
        if _pending and _pending[0][1] is front:
            break  # a deferred operation's turn has not come (cannot happen at the front)


def call(f, /, *args, **kwargs):
    """A call in the body of a @schedule function; what it does depends on the
    callee, classified once (_classify) and remembered in a table."""
    if S.driver != _get_ident() or S.in_backend:
        # Translated code run elsewhere (a closure called by a task thread, after
        # the @schedule call returned, in a worker): plain Python.
        return f(*args, **kwargs)
    if kwargs and "out" in kwargs:
        _state.touch()  # np.add(a, b, out=c) changes c in place
    f = r(f)
    tf = type(f)
    if tf is _FunctionType or tf is _MethodType:
        # The program's functions and methods: classified by their mark
        # (@functional, @schedule) and code at each call, two lookups; a
        # table would keep them and their closures alive.
        if tf is _FunctionType and getattr(f, "__pydron_kind__", None) == "functional":
            return _submit(f.__pydron_functional__, args, kwargs)  # _h_functional, per task
        return _classify(f, tf)(f, args, kwargs)
    # The key: the callee itself for builtins, classes and numpy's
    # callables; (type, name) for a method of a builtin object (lst.append
    # is a new object each time). Other callables (instances with __call__,
    # partials) are classified at each call: hashing them could run code of
    # the program.
    if tf is type or tf in _C_CALLABLES:
        key = f
    elif tf is _BuiltinType:
        s = f.__self__
        st = type(s)
        if s is None or st is _ModuleType:
            key = f
        elif type(st) is type:  # (a metaclass's __hash__ would be the program's)
            key = (st, f.__name__)
        else:
            return _classify(f, tf)(f, args, kwargs)
    elif getattr(tf, "__module__", None) == "numpy" and tf.__hash__ is object.__hash__:
        _C_CALLABLES.add(tf)
        key = f
    else:
        return _classify(f, tf)(f, args, kwargs)
    h = _kinds.get(key)
    if h is None:
        h = _remember(_kinds, key, _classify(f, tf))
    return h(f, args, kwargs)


_kinds = {}         # callee (or (type, method name)) -> handler(f, args, kwargs)
# Types of callables of C extensions whose hash runs no code of the program
# (numpy's functions and ufuncs): remembered like builtins.
_C_CALLABLES = set()


def _remember(table, key, h):
    if len(table) > 8192:  # classes made on the fly: keep it bounded
        table.clear()
    table[key] = h
    return h


def _classify(f, tf):
    """The handler for callee f: what a call of it does."""
    if tf is _FunctionType or tf is _MethodType:
        kind = getattr(f, "__pydron_kind__", None)
        method = tf is _MethodType
        if kind == "functional":
            return _h_functional_method if method else _h_functional
        if kind == "schedule":
            return _h_schedule_method if method else _h_schedule
        code = getattr(f.__func__, "__code__", None) if method else f.__code__
        if code in _lazy_codes:
            return _h_nested
        if code is not None and code.co_flags & _CO_GENERATOR and kind is None:
            return _h_generator
        if id(f) in _STATS_IDS and _STATS_IDS[id(f)] is f:
            return _h_pure_consumer
        if _PATH_FUNCS.get(id(f)) is f or (
                method and type(f.__self__) in _PATH_TYPES and f.__name__ in _PATH_METHODS
                and getattr(type(f.__self__), f.__name__, None) is f.__func__):
            return _h_path
        if _log_call(f) is not None:
            return _h_log
        return _h_unknown
    if _PATH_FUNCS.get(id(f)) is f:
        return _h_path   # os.fspath, pathlib's classes
    h = _classify_value(f, tf)
    # print and the pure builtins/numpy functions over results not computed
    # yet are deferred while tasks are pending (look-ahead)
    if f is _print:
        return _deferring(_h_defer_print, h)
    name = (S.deferrable_ids or _deferrable_funcs()).get(id(f))
    if name is not None:
        return _deferring(functools.partial(_h_defer_func, name), h)
    return h


def _classify_value(f, tf):
    if _is_chain_from_iterable(f):
        return _h_itertools
    if tf is _BuiltinType:
        s = f.__self__
        st = type(s)
        if s is not None and st is not _ModuleType:
            if st is list or st in _DICTS:
                op = _CONTAINER_OPS.get((st if st is list else dict, f.__name__))
                if op is not None and st is not list and st is not dict \
                        and getattr(st, f.__name__, None) is not getattr(dict, f.__name__, None):
                    op = None  # overridden by the subclass
                if op is not None:
                    return functools.partial(_h_container, op)
            elif st in _IMMUTABLE or st in _PURE_METHOD_TYPES:
                return _h_immutable_method
            return _h_unknown
    if tf is _BuiltinType or tf is type:
        if id(f) in _PURE_IDS:
            h = (_h_pure_shallow if id(f) in _SHALLOW_IDS else
                 _h_pure_consumer if id(f) in _CONSUMER_IDS else _h_pure)
            wrap = _SAFE_WRAP.get(id(f))
            if wrap is not None:
                return functools.partial(_h_safe_wrap, wrap)
            return h
    if tf is _partial:
        return _h_partial
    if f is map:
        return _h_map
    if id(f) in _ITERTOOLS and _ITERTOOLS[id(f)] is f:
        return _h_itertools
    if tf is type and (_plain_constructor(f) or _simple_init(f)):
        return _h_plain_constructor
    return _h_unknown


# Handlers: (callee, args tuple, kwargs dict) -> the call's value.

def _h_unknown(f, args, kwargs):
    return _unknown(f, args, kwargs)


def _h_functional(f, args, kwargs):
    return _submit(f.__pydron_functional__, args, kwargs)


def _h_functional_method(f, args, kwargs):
    return _submit(f.__func__.__pydron_functional__, (f.__self__,) + args, kwargs)


def _h_schedule(f, args, kwargs):
    return f.__pydron_lazy__(*args, **kwargs)


def _h_schedule_method(f, args, kwargs):
    return f.__func__.__pydron_lazy__(f.__self__, *args, **kwargs)


def _h_nested(f, args, kwargs):
    return _call_nested(f, args, kwargs)


def _h_generator(f, args, kwargs):
    # Calling a generator function runs none of its code: no barrier; its
    # steps are taken by the loop (iterators._step_ahead decides).
    return f(*[rdeep(a) for a in args], **{k: rdeep(v) for k, v in kwargs.items()})


def _deferring(defer, h):
    def handler(f, args, kwargs):
        if _pending:
            lz = defer(f, args, kwargs)
            if lz is not None:
                return lz
        return h(f, args, kwargs)
    return handler


def _h_defer_print(f, args, kwargs):
    return _defer_print(args, kwargs)


def _h_defer_func(name, f, args, kwargs):
    if kwargs and "out" in kwargs:
        return None
    return _defer_func(f, name, args, kwargs)


def _h_container(op, f, args, kwargs):
    # lst.append(fut), d[k] = fut, ...: placeholders accepted without waiting
    return op(f.__self__, *args, **kwargs)


def _all_plain(args, kwargs):
    return all(map(_plain, args)) and all(map(_plain, kwargs.values()))


def _rdeep_kwargs(kwargs):
    for k, v in kwargs.items():
        kwargs[k] = rdeep(v)
    return kwargs


def _h_immutable_method(f, args, kwargs):
    if len(args) == 1 and not kwargs and type(args[0]) is _GeneratorType \
            and f.__name__ == "join" and _twin_source(args[0]) is not None:
        # "-".join(f(x) for x in xs): join takes every item before it looks
        # at one; the twin's steps first, the values in order
        return f(_consumed_gen(f, args[0]))
    if not _all_plain(args, kwargs):
        return _unknown(f, args, kwargs)
    # "-".join(parts), "{}".format(x), (1.5).is_integer(): no user code runs.
    return f(*(rdeep(a) for a in args), **_rdeep_kwargs(kwargs))


def _h_pure(f, args, kwargs):
    if not _all_plain(args, kwargs):
        return _unknown(f, args, kwargs)
    return f(*(rdeep(a) for a in args), **_rdeep_kwargs(kwargs))


def _h_log(f, args, kwargs):
    # log.info(...) while tasks are pending: queued in program order, as
    # print is (logcalls.py); else as before
    if _log_deferred(f, _log_call(f), args, kwargs):
        return None
    return _unknown(f, args, kwargs)


def _h_path(f, args, kwargs):
    # os.path.join(out, name), Path(out) / name, p.with_suffix(".npy"),
    # re.match(r"img(\d+)", name): of strings and pathlib's own paths these
    # look at no file and run no code of the program, so a loop making
    # output names does not wait for its tasks at each one; anything else
    # (a PathLike of the program, a function as re.sub's replacement) waits
    if not all(_plain(a) or type(a) in _PATH_ARGS for a in (*args, *kwargs.values())):
        return _unknown(f, args, kwargs)
    vals = [rdeep(a) for a in args]
    kw = {k: rdeep(v) for k, v in kwargs.items()}
    if all(map(_pathish, vals)) and all(map(_pathish, kw.values())):
        return f(*vals, **kw)
    return _unknown(f, vals, kw)


def _pathish(v):
    t = type(v)
    if t in _PATH_ARGS:
        return True
    return (t is list or t is tuple) and len(v) <= 64 and all(type(x) in _PATH_ARGS for x in v)


def _h_pure_shallow(f, args, kwargs):
    if not _all_plain(args, kwargs):
        return _unknown(f, args, kwargs)
    # len(lst) does not look at the items.
    return f(*map(r, args), **kwargs)


def _h_pure_consumer(f, args, kwargs):
    if args and type(args[0]) is _GeneratorType and _twin_source(args[0]) is not None \
            and all(map(_plain, args[1:])) and all(map(_plain, kwargs.values())) \
            and _CONSUMER_KW.issuperset(kwargs):
        # sum(f(x) for x in xs): the generator expression's lazy twin first
        try:
            args = (_consumed_gen(f, args[0]),) + tuple(rdeep(a) for a in args[1:])
            return _consume(f, args, _rdeep_kwargs(kwargs))
        finally:
            S.horizon = None  # (any/all: _consumed_gen set it)
    if not _all_plain(args, kwargs):
        return _unknown(f, args, kwargs)
    # zip/enumerate over placeholders: the consumer looks at the items.
    try:
        args = tuple(map(rdeep, a) if type(a) in (_Zip, _Enumerate) else
                     _consumed(f, a) if type(a) is _Map or isinstance(a, _Steps) else
                     map(rdeep, a) if _wrapped.get(id(a)) is a else rdeep(a)
                     for a in args)
        return _consume(f, args, _rdeep_kwargs(kwargs))
    finally:
        S.horizon = None  # (any/all over a map: _short_map set it)


def _h_safe_wrap(wrap, f, args, kwargs):
    if all(_plain(a) or _steppable(a) for a in args):
        # enumerate(gen), zip(gen, lst): stepped later; a task's result given
        # itself (zip(*results), enumerate(f(x), start=g(y))) is its value
        if any(isinstance(a, S.Future) for a in args):
            args = tuple(map(r, args))
        if kwargs and any(isinstance(v, S.Future) for v in kwargs.values()):
            kwargs = {k: r(v) for k, v in kwargs.items()}
        return wrap(*args, **kwargs)
    return _unknown(f, args, kwargs)


def _h_partial(f, args, kwargs):
    if type(f.func) in (_FunctionType, _MethodType) \
            and getattr(f.func, "__pydron_kind__", None) is not None:
        return call(f.func, *f.args, *args, **{**f.keywords, **kwargs})
    return _unknown(f, args, kwargs)


def _h_map(f, args, kwargs):
    if kwargs:
        return _unknown(f, args, kwargs)
    return _make_map(args)


def _h_itertools(f, args, kwargs):
    obj = _wrap_itertools(f, args, kwargs)  # islice(gen, n), chain(...): stepped later
    if obj is not None:
        return obj
    return _unknown(f, args, kwargs)


def _h_plain_constructor(f, args, kwargs):
    if _pending and _record_type(f) and (any(map(_has_future, args)) or
                                          any(map(_has_future, kwargs.values()))):
        # Result(name, flux=measure(img)) in a loop: the record holds the
        # placeholders, as a list would, and is settled (its fields in
        # place) before code other than the translated one can look at it
        obj = f(*args, **kwargs)
        _records.add(f)
        _tainted[id(obj)] = obj
        return obj
    return f(*(rdeep(a) for a in args), **_rdeep_kwargs(kwargs))


def mcall(obj, name, /, *args, **kwargs):
    """`obj.name(...)`: deferred if obj is a placeholder not computed yet whose
    category makes `name` a reading method; else an ordinary call."""
    if type(obj) is list and S.driver == _get_ident() and not S.in_backend:
        # lst.append(x) in a loop: straight to the placeholder-aware list op
        op = _LIST_OPS.get(name)
        if op is not None:
            return op(obj, *args, **kwargs)
    elif isinstance(obj, S.Future):
        if not obj.done():
            if _on_driver():
                c = obj.category()
                if c is not None and name in _SAFE_METHODS.get(c, ()) and _scan(args, kwargs) >= 0:
                    key = ("m", c, name)
                    return _defer(_method_op(name), (obj,) + args, kwargs, key,
                                  S.backend.RESULT_CATS.get(key))
        elif type(obj) is S.Future and name in _FRESH_METHODS and not obj._x and _on_driver() \
                and _scan(args, kwargs) == 0 and _exception(obj) is None \
                and name in _SAFE_METHODS.get(obj.category(), ()):
            # A reading method of a finished result (c.mean() when c is done):
            # no effects, so no barrier, and the driver never holds the object,
            # so later tasks given c still take the task's own value.
            return _method_op(name)(obj.peek(), *[_peek(a) for a in args],
                                    **{k: _peek(v) for k, v in kwargs.items()})
        obj = r(obj)
    return call(_getattr(obj, name), *args, **kwargs)


def _call_nested(f, args, kwargs):
    # Tell the nested def (its first statement asks) that its caller takes placeholders.
    S.next_lazy = True
    try:
        return f(*args, **kwargs)
    finally:
        S.next_lazy = False


def enter_nested():
    """First statement of a nested def: was it called by translated code?"""
    lazy, S.next_lazy = S.next_lazy, False
    return lazy


def leave(lazy, value):
    """Return of a nested def: plain values for callers that are not translated code."""
    if lazy:
        return value
    if S.driver == _get_ident() and not S.in_backend:
        sync()
    return rdeep(value)


def nested_error(exc):
    """An exception leaves a nested def: a task called before it fails first."""
    if S.driver == _get_ident() and not S.in_backend and _pending and not isinstance(exc, KeyboardInterrupt):
        try:
            barrier()
        except BaseException as first:
            first.__suppress_context__ = True
            raise


_constructors = {}


def _plain_constructor(cls):
    """A dataclass whose generated __init__ only stores fields runs no user code:
    building one in a loop needs no barrier."""
    ok = _constructors.get(cls)
    if ok is None:
        init = cls.__dict__.get("__init__")
        fields = cls.__dict__.get("__dataclass_fields__")
        ok = (fields is not None and init is not None
              and _generated(init)
              and not hasattr(cls, "__post_init__") and cls.__new__ is object.__new__
              and all(type(b).__name__ == "type" for b in cls.__mro__)
              and all(f.default_factory in (list, dict, set, _MISSING) for f in fields.values())
              and all(_constructors.get(b, True) for b in cls.__mro__[1:-1]))
        _constructors[cls] = ok
    return ok


_simple_inits = {}


def _simple_init(cls):
    """A class of the program whose __init__ only stores its parameters (or
    constants, or lists and tuples of them) into attributes of self
    (`self.name = name`), with no code of the program behind those stores
    (_record_type, no property): building one runs nothing to wait for,
    and it may hold placeholders as a record."""
    ok = _simple_inits.get(cls)
    if ok is None:
        ok = False
        try:
            init = cls.__init__
            if type(init) is _FunctionType and init.__closure__ is None and _record_type(cls):
                names = _init_stores(init.__code__)
                ok = names is not None and not any(_runs_code(cls, n, True) for n in names)
        except Exception:  # noqa: BLE001 - an odd class: called as unknown code
            ok = False
        _simple_inits[cls] = ok
    return ok


_INIT_IGNORED = frozenset(("RESUME", "NOP", "CACHE"))


def _init_stores(code):
    """The attribute names an __init__ stores into self, if its bytecode does
    nothing else (a stack machine over the few instructions that allows:
    loads of parameters and constants, lists and tuples of them, stores of
    attributes of self, return None); None otherwise."""
    if code.co_flags & 0x3A0 or code.co_argcount < 1:  # generators and coroutines
        return None
    nparams = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 4) + bool(code.co_flags & 8)
    stack, names = [], []
    for ins in _dis.get_instructions(code):
        op, arg = ins.opname, ins.arg
        if op in _INIT_IGNORED:
            continue
        if op == "LOAD_FAST":
            if arg >= nparams:
                return None
            stack.append("self" if arg == 0 else "v")
        elif op == "LOAD_FAST_LOAD_FAST":
            for i in (arg >> 4, arg & 15):
                if i >= nparams:
                    return None
                stack.append("self" if i == 0 else "v")
        elif op == "LOAD_CONST":
            stack.append(("c", ins.argval))
        elif op in ("BUILD_LIST", "BUILD_TUPLE") or (op in ("BUILD_MAP", "BUILD_SET") and arg == 0):
            if len(stack) < arg or "self" in stack[len(stack) - arg:]:
                return None
            del stack[len(stack) - arg:]
            stack.append("v")
        elif op == "STORE_ATTR":
            if len(stack) < 2 or stack[-1] != "self" or stack[-2] == "self":
                return None
            del stack[-2:]
            names.append(ins.argval)
        elif op == "RETURN_VALUE":
            return names if stack == [("c", None)] else None
        elif op == "RETURN_CONST":
            return names if not stack and ins.argval is None else None
        else:
            return None
    return None


def ecall(f, /, *args, **kwargs):
    """A call where parallelism is not safe (try/with bodies, nested functions,
    lambdas, generators): runs to completion, exceptions raised right here."""
    if S.driver != _get_ident() or S.in_backend:
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
    me = _get_ident()
    if S.driver is None:
        if _in_worker():
            return inner(*args, **kwargs)  # inside a task: plain Python
        S.driver = me
        # translated code reports what may change objects in place (see _state)
        _state.touch()
        _state.TRACKING = True
        _hints.started()
        returned = False
        try:
            res = _run_strict(inner, args, kwargs)
            returned = True
        finally:
            S.driver = None
            _state.TRACKING = False
            _closures.clear()
            _wrapped.clear()
            _call_returned()
            # (not over an exception: a warnings filter "error" would replace it)
            _hints.report(_workers() if returned else 0)
        return res
    if S.driver != me or S.in_backend:
        return inner(*args, **kwargs)  # another thread or a task body: plain Python
    _state.touch()  # from plain code that ran inside the @schedule call
    return _run_strict(inner, args, kwargs)


def _workers():
    """The current session's workers (0: none)."""
    cur = S.backend.current() if S.backend is not None else None
    try:
        return cur.nworkers() if cur is not None else 0
    except Exception:   # a session stopped meanwhile
        return 0


def _call_returned():
    from .. import _backend
    _backend.call_returned()


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
_CONSUMER_IDS = {id(f) for f in (list, tuple, set, frozenset, dict, sorted, sum, min, max, any, all,
                                  math.fsum, math.prod)}
# statistics' functions over data (Python code of the standard library, no
# effects but the items' own arithmetic, read in order): consumers too, by
# identity (a program that rebinds statistics.mean calls its own function)
_STATS_IDS = {id(f): f for f in (getattr(statistics, n, None) for n in (
    "mean", "fmean", "geometric_mean", "harmonic_mean", "median", "median_low", "median_high",
    "median_grouped", "mode", "multimode", "pstdev", "pvariance", "stdev", "variance",
    "quantiles")) if f is not None}
# what a consumer of a generator expression's twin may be given besides it (a
# key= function runs between the items: the twin's steps must not run ahead);
# statistics' keywords are numbers, names and data
_CONSUMER_KW = frozenset(("start", "default", "reverse", "n", "method", "mu", "xbar", "interval",
                          "weights"))


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

def _plain(v):
    """May a pure builtin be given `v` without running unknown code?"""
    t = type(v)
    if t in _SCALARS or t in _SAFE_ITER or isinstance(v, S.Future):
        return True
    if t is _Map or isinstance(v, _Steps) or _wrapped.get(id(v)) is v:
        return True
    if t is _FunctionType:
        return v.__code__ in _translated_codes
    return t.__module__ == "numpy"




# --------------------------------------------------------------------------
# The common path of call() and mcall() in C (pydron._core, fastcall.c): a
# plain @functional call with scalar arguments and lst.append of its
# placeholder, without a Python function per task. Everything else comes
# back to call() and mcall() above, which stay the reference.
# PYDRON_FASTCALL=0 turns it off (tests compare both paths).

if os.environ.get("PYDRON_FASTCALL", "1") != "0":
    _core.fast_setup(S=S, pending=_pending, undo=_undo, tainted=_tainted, seq=_seq, call=call,
                     mcall=mcall, submit_rest=_submit_rest, shrink=_shrink,
                     front_poll=_front_poll, prefix=_PKG)
    fast_call, fast_mcall = _core.call, _core.mcall
else:
    fast_call, fast_mcall = call, mcall
