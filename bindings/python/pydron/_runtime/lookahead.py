"""Deferred driver operations (look-ahead)."""

import collections
import math
import operator
import sys
import types

from .. import _serialize, _state
from .._backend import RESULT_CATS, Future, _immutable, category
from .barriers import _drain_to, _inert_value, r, rdeep, rdo, ro, sync
from .errors import call_site
from .state import S, _in_backend_call, _on_driver
from .state import pending as _pending, records as _records, seq as _seq, tainted as _tainted
from .tables import _MISSING, _PATH_TYPES, _SCALARS


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


class Lazy(Future):
    """Placeholder for a deferred driver operation: a statement part that looks
    at values not computed yet (``print(i, x.mean())``, ``total += y.sum()``).
    It runs on the driver, in program order, once every task and operation
    before it has finished; the driver meanwhile goes on adding later tasks
    (look-ahead). Only operations on values of known effect-free categories
    are deferred (below)."""

    __slots__ = ("seq", "op", "args", "kw", "key", "cat", "ran", "val", "exc", "alias", "early")

    def __init__(self, seq, op, args, kw, key, cat):
        Future.__init__(self, None, op)
        self.seq, self.op, self.args, self.kw, self.key, self.cat = seq, op, args, kw, key, cat
        self.ran = self.alias = False
        self.val = self.exc = None
        # For an operation that can be done ahead of its turn once what it
        # reads is there (an item of an unpacked result, stores.unpack): a
        # function giving (True, value), or (False, None) to wait its turn.
        self.early = None

    def ahead(self):
        """(True, value) if the value can be had without waiting for the
        tasks and operations before it; else (False, None)."""
        if self.ran or self.early is None:
            return False, None
        return self.early()

    def __repr__(self):
        return f"<pydron deferred {self.key[0]} #{self.seq} {'done' if self.ran else 'pending'}>"

    def done(self) -> bool:
        return self.ran

    def category(self):
        if self.ran:
            return category(self.val) if self.exc is None else None
        return self.cat

    def run(self):
        """Called by the runtime once it is this operation's turn."""
        if self.ran:
            return
        try:
            args = [a.peek() if isinstance(a, Future) else a for a in self.args]
            kw = {k: (v.peek() if isinstance(v, Future) else v) for k, v in self.kw.items()} \
                if self.kw else {}
            self.val = self.op(*args, **kw)
            RESULT_CATS[self.key] = category(self.val)
        except KeyboardInterrupt:
            raise  # Ctrl-C while it waited for its inputs: now, not in program order
        except BaseException as e:  # raised where the sequential program raises it
            self.exc = e
        self.ran = True
        self.args = self.kw = None

    def peek(self):
        if not self.ran:
            ok, v = self.ahead()
            if ok:
                return v
            _drain_to(self.seq)
        if self.exc is not None:
            raise self.exc
        if not self.ran:
            raise RuntimeError("pydron: a statement abandoned after an earlier exception")
        return self.val

    def result(self, timeout=None):
        v = self.peek()
        self._x = True
        return v

    def exception(self, timeout=None):
        self.run()
        return self.exc

    def _driver_value(self):
        if not self.ran:
            ok, v = self.ahead()
            if ok:
                return v
            _drain_to(self.seq)
        if self.exc is not None:
            raise self.exc
        if not self.ran:
            raise RuntimeError("pydron: a statement abandoned after an earlier exception")
        return self.val

    def __reduce_ex__(self, protocol):
        try:
            v = self._driver_value()
        except BaseException as e:
            _state.RAISING = e  # (see _state.RAISING)
            raise
        return (_serialize.identity, (v,))


def _drain_all():
    """Run every task and deferred operation so far (a result a deferred
    operation may have handed out part of is about to be shared)."""
    _drain_to(None)

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
_MAP_METHODS = frozenset("get keys values items copy __len__ __getitem__ __contains__".split())
_SAFE_METHODS = {"nd": _NP_METHODS, "str": _STR_METHODS, "num": _NUM_METHODS, "seq": _SEQ_METHODS,
                 "map": _MAP_METHODS}
_TRUSTED = frozenset(_SAFE_METHODS) | {"none"}
_print = print
_method_ops = {}
_NP_FUNCS = """
    abs absolute all allclose amax amin any argmax argmin argsort around array_equal average
    ceil clip concatenate count_nonzero cumsum diff dot exp floor hstack isclose isfinite
    isinf isnan linspace log log10 max mean median min nanmax nanmean nanmedian nanmin
    nanstd nansum percentile polyfit prod quantile round sign sin cos sort sqrt square stack
    std sum unique var vstack where maximum minimum fmax fmin append dstack column_stack
""".split()


_base_ids = {id(f): f.__name__ for f in (float, int, str, bool, abs, len, round, min, max, sum,
                                         repr, format, sorted, tuple, divmod, pow, complex)}
# math's functions of numbers (math.sqrt(flux(img)), math.log10(...)): named
# apart from numpy's of the same name (their results are of other kinds)
_base_ids.update((id(f), "math." + n) for n, f in vars(math).items()
                 if type(f) is type(len))


def _deferrable_funcs():
    np = sys.modules.get("numpy")
    if np is None:
        return _base_ids
    ids = dict(_base_ids)
    for name in _NP_FUNCS:
        f = getattr(np, name, None)
        if f is not None:
            ids[id(f)] = name
    S.deferrable_ids = ids  # complete: numpy is loaded
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
    if type(v) is S.Lazy:
        if not v.ran:
            return 1  # the result of a reading operation on trusted values
        if v._x and v.exc is None and not S.backend._immutable(v.val):
            return -1
        return 0
    if isinstance(v, S.Future):
        if not v.done():
            return 1 if v.category() in _TRUSTED else -1
        if v._x:  # driver code holds the object and may change it
            return 0 if S.backend._immutable(v._r[1]) else -1
        return 0 if v.category() in _TRUSTED else -1
    t = type(v)
    if t in _SCALARS:
        return 0
    if (t is tuple or t is frozenset) and S.backend._immutable(v):
        return 0
    if t.__name__ != "ndarray" and S.backend.category(v) == "nd":
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
    if kind == "u":
        return True   # an unpacked value's items are parts of it
    if kind in ("b", "a", "c"):
        return any(type(a) is S.Future and a.category() in ("seq", "map") for a in args)
    return False


def _defer(op, args, kwargs, key, cat):
    seq = S.last_seq = S.last_lazy = next(_seq)
    lz = S.Lazy(seq, op, args, kwargs, key, cat)
    lz._site = call_site()  # its failure's traceback points at the statement
    alias = lz.alias = _aliasing(key, args)
    for a in args:
        if isinstance(a, S.Future):
            a._q = seq
            if alias and type(a) is S.Future:
                a._a = _drain_all
    if kwargs:
        for a in kwargs.values():
            if isinstance(a, S.Future):
                a._q = seq
    _pending.append((seq, lz))
    return lz
_BOPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
         "//": operator.floordiv, "**": operator.pow, "@": operator.matmul, "%": operator.mod,
         "<<": operator.lshift, ">>": operator.rshift, "&": operator.and_, "|": operator.or_,
         "^": operator.xor}
_FN_STATE = frozenset(("__defaults__", "__kwdefaults__", "__closure__"))
_FunctionType = types.FunctionType
_ND_ATTRS = frozenset("shape ndim size dtype T real imag nbytes itemsize".split())


def bop(op, a, b):
    """`a op b`: deferred while an operand is a placeholder not computed yet
    and the other can be read later; else both resolved, as `ro(a) op ro(b)`
    (`%`: `ro(a) % rdo(b)`, the items of a tuple of arguments too). A deferred
    `"%.2f" % v` formats a value of a trusted category (numbers, strings,
    numpy values): no code of the program runs."""
    if op == "%":
        return _binary(("b", op), operator.mod, a, b, ro, rdo)
    return _binary(("b", op), _BOPS[op], a, b, ro)


def _binary(key, fn, a, b, resolve, resolve_b=None):
    """fn(a, b), deferred while an operand is a placeholder not computed yet
    and the other can be read later; else fn(resolve(a), resolve_b(b)) (b
    resolved as a unless told), its result's category learned when an
    operand was a placeholder."""
    if resolve_b is None:
        resolve_b = resolve
    if (isinstance(a, S.Future) or isinstance(b, S.Future)) and _on_driver():
        if _pending:
            ca, cb = _capture(a), _capture(b)
            if ca >= 0 and cb >= 0 and (ca | cb) == 1:
                return _defer(fn, (a, b), None, key, S.backend.RESULT_CATS.get(key))
        a = resolve(a)
        return _learned(key, fn(a, resolve_b(b)))
    a = resolve(a)
    return fn(a, resolve_b(b))


def _learned(key, v):
    """An operation on a placeholder done at once (its operand was there):
    its result's category, as a deferred one's, for the next time."""
    RESULT_CATS[key] = category(v)
    return v


_CMPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
         "==": operator.eq, "!=": operator.ne}


def cop(op, a, b):
    """`a op b`, one comparison whose value is not tested at once (an item of
    a generator expression's twin): deferred as a binary operator is; else
    `rdo(a) op rdo(b)`."""
    return _binary(("k", op), _CMPS[op], a, b, rdo)


_UOPS = {"-": operator.neg, "+": operator.pos, "~": operator.invert}


def uop(op, a):
    """`-a`, `+a`, `~a`: deferred while a is a placeholder not computed yet
    (of an effect-free category); else `op ro(a)`."""
    if isinstance(a, S.Future) and _on_driver():
        key = ("u", op)
        if _pending and _capture(a) == 1:
            return _defer(_UOPS[op], (a,), None, key, S.backend.RESULT_CATS.get(key))
        return _learned(key, _UOPS[op](ro(a)))
    return _UOPS[op](ro(a))


def item(obj, index):
    """`obj[index]` (a load)."""
    if isinstance(obj, S.Future) and not obj.done() and _on_driver():
        c = obj.category()
        if c in ("nd", "seq", "str", "map") and _capture(index) == 0:
            key = ("i", c)
            lz = _defer(operator.getitem, (obj, index), None, key, S.backend.RESULT_CATS.get(key))
            if type(obj) is S.Future:
                lz.early = _ahead(obj, lambda val: val[index])
            return lz
    return rsub(obj)[index]


def rsub(obj):
    """The object of a subscript `obj[...]` (r(obj)), after a barrier if its
    __getitem__ is code of the program while earlier work is pending: that
    code runs after everything before it, as in the sequential program (a
    catalog's `__getitem__` that prints "loading chunk 3" came before an
    earlier statement's pending output). Eager zones use it for their
    subscripts (their attribute loads: eattr)."""
    if isinstance(obj, S.Future):
        obj = r(obj)
    if _pending and type(obj) not in _PLAIN_ITEM and _item_code(type(obj)) and _on_driver():
        sync()
    return obj


def _item_code(t):
    """Is t's __getitem__ code of the program (a Python function: a class of
    the program, pandas, ...)? Types of C extensions (numpy) run none."""
    v = _item_codes.get(t)
    if v is None:
        v = _item_codes[t] = type(getattr(t, "__getitem__", None)) is types.FunctionType
        if len(_item_codes) > 4096:
            _item_codes.clear()
    return v


_item_codes = {}
# Types whose subscripts run no code of the program.
_PLAIN_ITEM = {list, tuple, dict, str, bytes, bytearray, range, memoryview, type}


def _ahead(v, get):
    """For a deferred operation that only reads task result v (an item, an
    item of it unpacked) and that the driver or a task needs before its
    turn: once v has finished well, get(value), without waiting for the tasks
    before it (reading a value of a trusted category runs no code and has no
    effect), if that succeeds and the item is immutable (nobody can change
    it meanwhile). Else (False, None): its turn is waited for, so a failure
    is raised in program order, as before."""
    def ahead():
        r = v._r or _in_backend_call(v._wait, None)
        if not r[0]:
            return False, None
        try:
            x = get(r[1])
        except Exception:  # noqa: BLE001 - raised at its turn, in program order
            return False, None
        return (True, x) if _immutable(x) else (False, None)
    return ahead


def attr(obj, name):
    """`obj.name` (a load, not a call)."""
    if type(obj) is _FunctionType and name in _FN_STATE:
        _settled(obj)  # a function made by translated code: defaults and cells with values
    if isinstance(obj, S.Future):
        if not obj.done() and name in _ND_ATTRS and _on_driver() and obj.category() == "nd":
            key = ("g", name)
            return _defer(getattr, (obj, name), None, key, S.backend.RESULT_CATS.get(key))
        obj = r(obj)
    return _getattr(obj, name)


def eattr(obj, name):
    """getattr, after a barrier if it runs code of the program (a property,
    __getattr__): code pydron does not see. `obj.name` in an eager zone (a
    generator expression's items, a lambda, an eager `try`; a placeholder
    resolved as r() does), and attr()'s read of a value (_getattr). One
    call: it stands for r(x).name in loops."""
    if isinstance(obj, S.Future):
        obj = r(obj)
    if _pending and type(obj) not in _PLAIN_ATTR and _runs_code(type(obj), name, False) \
            and _on_driver():
        sync()
    return getattr(obj, name)


_getattr = eattr


# Types whose attribute access runs no user code.
_PLAIN_ATTR = {types.ModuleType, type, int, float, complex, str, bytes, list, tuple, dict, set,
               frozenset, bool, type(None), types.FunctionType, types.MethodType,
               types.BuiltinFunctionType, *_PATH_TYPES}
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
    return v.peek() if isinstance(v, S.Future) else v


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
    if isinstance(v, S.Future) or type(spec) is S.Lazy:
        if _pending and _on_driver() and (_capture(v) | _capture(spec)) == 1:
            return _defer(_format_op, (v, conv, spec), None, ("f",), "str")
        v = rdeep(v)
        spec = r(spec)
    elif type(v) in _RDEEP_FORMAT or type(v) in _records:
        v = rdeep(v)
    if (_pending or _tainted) and not _inert_value(v) and _on_driver():
        sync()  # its __format__/__repr__ (or an item's) may be code of the program
    return _format_op(v, conv, spec)


_RDEEP_FORMAT = {list, tuple, dict, collections.defaultdict, collections.OrderedDict,
                 collections.Counter}


def _join_op(*parts):
    return "".join(parts)


def fjoin(*parts):
    """The f-string of formatted parts (some may be deferred)."""
    for p in parts:
        if type(p) is S.Lazy:
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
            if isinstance(a, S.Future) or S.backend.category(a) is None:
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
    return _defer(f, args, kwargs, key, S.backend.RESULT_CATS.get(key))




from .escapes import _settled  # noqa: E402  (escapes imports barriers, which this module imports)
