"""filter() and itertools objects made by translated code over iterators of
the program: a loop over them need not wait at each step.

Their sources are stepped through iterators._guarded (which waits where a
step of the program's iterator must), and the functions they call on items
(filter's and takewhile's predicates, groupby's key, accumulate's function,
and the truth, equality or sum they take by default) through _Guard: it calls
the function at once where that is provably the same as waiting first (a
builtin without effects or a function whose code only computes from its
arguments and plain globals, given plain values), else it waits for every
earlier task first and hands the function values, not placeholders (and the
"pydron" logger says why, once per function). A failure of an earlier task
comes before the function's own exception. starmap(f, ...) is map(f, ...)
with argument tuples: a @functional f submits its tasks without waiting."""

import itertools as _itertools
import logging
import operator as _operator
import sys as _sys
import types

from .barriers import barrier, r, rdeep, sync
from .iterators import (_GeneratorType, _Map, _Steps, _fn_state_check, _gen_code_check,
                        _guarded, _iter_of, _STORES_SELF, _why, _wrapped)
from .state import S, _on_driver
from .state import pending as _pending, tainted as _tainted
from .state import translated_codes as _translated_codes
from .tables import _IMMUTABLE, _SCALARS, _safe_iterable

log = logging.getLogger("pydron")
_IT = _itertools
_pairwise = getattr(_IT, "pairwise", None)
_batched = getattr(_IT, "batched", None)
_FunctionType = types.FunctionType
_MethodDescriptorType = types.MethodDescriptorType


def _identity(x):
    return x


# Operator functions that compute from their arguments only (no in-place or
# item stores): given plain values, they run no code of the program.
_OPERATORS = {id(getattr(_operator, n)) for n in (
    "abs", "add", "and_", "concat", "contains", "countOf", "eq", "floordiv", "ge", "getitem",
    "gt", "index", "indexOf", "inv", "invert", "is_", "is_not", "le", "lshift", "lt", "mod",
    "mul", "ne", "neg", "not_", "or_", "pos", "pow", "rshift", "sub", "truediv", "truth", "xor")}
_TRUSTED = {id(_identity), id(bool)} | _OPERATORS


class _Guard:
    """fn as an itertools object calls it on items (see the module doc).
    compared: the caller then compares the result (groupby's key): a result
    whose comparison may run code of the program waits too."""

    __slots__ = ("fn", "static", "compared")

    def __init__(self, fn, compared=False):
        self.fn = fn
        self.compared = compared
        self.static = _static_why(fn)

    def __call__(self, *args):
        fn = self.fn
        if not _on_driver():
            return fn(*args)
        why = self.static
        if why is None and type(fn) is _FunctionType and fn.__code__ not in _translated_codes:
            why = _fn_state_check(fn)
        if why is None:
            for a in args:
                if not _plain_item(a, 0):
                    why = f"it is given a {type(a).__qualname__} (may run code or be a placeholder)"
                    break
        if why is not None:
            key = fn.__code__ if type(fn) is _FunctionType else type(fn)
            _why(key, lambda: f"{_name(fn)}: {why}", once=why is self.static)
            sync()
            from .calls import call
            # values, not placeholders; a @functional fn submits its task
            return rdeep(call(fn, *[rdeep(a) for a in args]))
        try:
            v = fn(*args)
        except BaseException as e:
            if _pending and not isinstance(e, KeyboardInterrupt):
                try:
                    barrier()  # an earlier task's failure comes first
                except BaseException as first:
                    first.__suppress_context__ = True
                    raise
            raise
        if self.compared and _pending and not _plain_item(v, 0):
            sync()  # the caller compares it: its __eq__ may be the program's
        return v


def _name(fn):
    return getattr(fn, "__qualname__", None) or type(fn).__qualname__


def _static_why(fn):
    """None if calling fn on plain values is provably the same at any time
    (given its globals: _fn_state_check), else why not."""
    if id(fn) in _TRUSTED:
        return None
    from .calls import _PURE_IDS

    t = type(fn)
    if id(fn) in _PURE_IDS:
        return None
    if t is _MethodDescriptorType and fn.__objclass__ in _IMMUTABLE:
        return None  # str.isdigit, str.lower, tuple.count, ...
    if t is _operator.itemgetter:
        return None  # items of plain values
    if t is _FunctionType:
        if getattr(fn, "__pydron_kind__", None) is not None:
            return "it is a @functional or @schedule function (its value is needed)"
        code = fn.__code__
        if code in _translated_codes:
            return None  # translated: it waits where it must itself
        why = _gen_code_check(code)
        if why is None and code in _STORES_SELF:
            why = "it stores an attribute of its argument"
        return why
    return f"it is a {t.__qualname__}, whose code pydron does not see"


def _plain_item(v, depth):
    """An item a guarded function may be given early: a value of a builtin or
    numpy type, no placeholder, containers looked into (small ones)."""
    t = type(v)
    if t in _SCALARS or t is range:
        return True
    if depth > 2:
        return False
    if t is tuple or t is frozenset or ((t is list or t is dict) and id(v) not in _tainted):
        if len(v) > 64:
            return False
        if t is dict:
            return all(_plain_item(k, depth + 1) and _plain_item(x, depth + 1) for k, x in v.items())
        return all(_plain_item(x, depth + 1) for x in v)
    return t.__module__ == "numpy" and getattr(v, "dtype", None) is not None and not v.dtype.hasobject


# callable -> (positions of iterables, "*" = all; positions of functions;
# keyword arguments that are functions; default function when None)
_SPECS = {
    _IT.islice: ((0,), (), ()),
    _IT.chain: ("*", (), ()),
    _IT.zip_longest: ("*", (), ()),
    _IT.product: ("*", (), ()),
    _IT.combinations: ((0,), (), ()),
    _IT.combinations_with_replacement: ((0,), (), ()),
    _IT.permutations: ((0,), (), ()),
    _IT.cycle: ((0,), (), ()),
    _IT.compress: ((0, 1), (), ()),
    _IT.accumulate: ((0,), (1,), ("func",)),
    _IT.takewhile: ((1,), (0,), ()),
    _IT.dropwhile: ((1,), (0,), ()),
    _IT.filterfalse: ((1,), (0,), ()),
    filter: ((1,), (0,), ()),
    _IT.groupby: ((0,), (1,), ("key",)),
    _IT.count: ((), (), ()),
    _IT.repeat: ((), (), ()),
    _IT.tee: ((0,), (), ()),
}
for _f in (_pairwise, _batched):
    if _f is not None:
        _SPECS[_f] = ((0,), (), ())

_NUMBERS = (int, float, complex, bool)

_ITERTOOLS = {id(f): f for f in list(_SPECS) + [_IT.starmap]}


def _is_chain_from_iterable(f):
    return type(f) is types.BuiltinMethodType and f.__self__ is _IT.chain \
        and f.__name__ == "from_iterable"


def _source(a):
    """An iterable argument as the itertools object will step it, or None
    when it cannot be stepped safely here (a map(...), whose consumer is not
    known here)."""
    if _safe_iterable(a):
        return a
    if isinstance(a, S.Future):
        # a task's result given itself (product(f(x), f(y)), chain(*results)):
        # what it iterates is the value
        return _source(r(a))
    t = type(a)
    if _wrapped.get(id(a)) is a:
        return a
    if t is _Map or isinstance(a, _Steps):
        return None
    if t is _GeneratorType:
        return _guarded(a)
    if getattr(t, "__iter__", None) is None and not hasattr(t, "__getitem__"):
        return a  # not iterable: Python's own error, from the constructor
    return _guarded(_iter_of(a))


def _wrap_itertools(f, args, kwargs):
    """filter(...), islice(gen, n), chain(gen, lst), groupby(...), ... in
    translated code, or None when an argument is not of a kind stepped safely."""
    if _is_chain_from_iterable(f):
        return _chain_from(args, kwargs)
    if f is _IT.starmap:
        if kwargs or len(args) != 2:
            return None
        src = _source(args[1])
        return None if src is None else _StarMap(args[0], src)
    spec = _SPECS.get(f)
    if spec is None:
        return None
    iters, fns, kwfns = spec
    args = list(args)
    kwargs = dict(kwargs)
    for i, a in enumerate(args):
        if iters == "*" or i in iters:
            src = _source(a)
            if src is None:
                return None
            args[i] = src
        elif i in fns:
            args[i] = _guard_fn(f, a)
        elif f is _IT.repeat and i == 0:
            pass  # the repeated object: handed on, never looked at
        elif isinstance(a, S.Future) or type(a).__module__ != "builtins" \
                or (f is _IT.count and type(a) not in _NUMBERS):
            return None  # islice(gen, n) with n a placeholder, count(start) of a class
    for k, v in kwargs.items():
        if k in kwfns:
            kwargs[k] = _guard_fn(f, v)
        elif isinstance(v, S.Future) or (f is _IT.count and type(v) not in _NUMBERS):
            return None
    # what the constructor does with None or nothing, made explicit and guarded
    if f is filter or f is _IT.filterfalse:
        if len(args) == 2 and args[0] is None:
            args[0] = _Guard(bool)  # the truth of items
    elif f is _IT.accumulate or f is _IT.groupby:
        kw = kwfns[0]
        if len(args) > 1:
            if args[1] is None:
                args[1] = _default_guard(f)
        elif kwargs.get(kw) is None:
            kwargs[kw] = _default_guard(f)
    elif f is _IT.compress and len(args) == 2:
        args[1] = map(_Guard(bool), args[1])  # the truth of selectors
    obj = (_GroupBy if f is _IT.groupby else f)(*args, **kwargs)
    if f is _IT.tee:
        for o in obj:
            _remember(o)
        return obj
    return _remember(obj)


def _guard_fn(f, fn):
    if fn is None:
        return None  # the default: made explicit by the caller where it looks at items
    return _Guard(fn, compared=f is _IT.groupby)


def _default_guard(f):
    if f is _IT.accumulate:
        return _Guard(_operator.add)  # the sum of items
    return _Guard(_identity, compared=True)  # groupby: the items are the keys


def _chain_from(args, kwargs):
    if kwargs or len(args) != 1 or type(args[0]) not in (list, tuple):
        return None  # a lazy outer iterable: its steps are not seen here
    srcs = [_source(a) for a in args[0]]
    if any(s is None for s in srcs):
        return None
    return _remember(_IT.chain(*srcs))


def _remember(obj):
    if len(_wrapped) > 4096:
        for k in [k for k, o in _wrapped.items() if _getrefcount(o) <= 3]:
            del _wrapped[k]
    _wrapped[id(obj)] = obj
    return obj


class _StarMap(_Map, _Steps):
    """itertools.starmap(f, iterable) made by translated code: map(f, ...) with
    argument tuples (a translated loop steps it as a loop body would call f)."""

    def __new__(cls, f, src):
        self = map.__new__(cls, tuple, src)
        self._f = f
        return self

    def __next__(self):
        items = map.__next__(self)
        if _on_driver():
            from .calls import call
            return rdeep(call(self._f, *items))
        return self._f(*items)

    def _lazy(self):
        from .calls import call
        f = self._f
        while True:
            try:
                items = map.__next__(self)
            except StopIteration:
                return
            yield call(f, *items)


class _GroupBy(_IT.groupby):
    """groupby(...) made by translated code: its groups step the same guarded
    source, so code consuming a group (sum(g), list(g)) need not wait either."""

    def __next__(self):
        k, g = _IT.groupby.__next__(self)
        return k, _remember(g)


for _cls, _like in ((_StarMap, _IT.starmap), (_GroupBy, _IT.groupby)):
    _cls.__name__ = _cls.__qualname__ = _like.__name__  # what the program sees
    _cls.__module__ = "itertools"
_getrefcount = _sys.getrefcount
