"""Iteration, stores into containers and objects, and the list and dict
methods that accept placeholders without looking at them."""

import operator
import sys

from .._state import touch as _touch
from .barriers import (_has_future, _log, _log_snapshot, _record_type, _save_before, _taint, _unknown,
                       barrier, r, rdeep, ro, sync)
from .._backend import RESULT_CATS
from .lookahead import _PLAIN_ATTR, _ahead, _capture, _defer, _runs_code
from .state import S, _on_driver
from .state import pending as _pending, records as _records, tainted as _tainted
from .iterators import _GeneratorType, _Map, _Steps, _guarded, _iter_of, _twin_walk
from .tables import _DICTS, _SCALARS, _safe_iterable


# --------------------------------------------------------------------------
# Iteration


_Nest = None  # genexps._Nest (set there: genexps imports this module)


def it(v):
    """An iterable about to be iterated (for, unpacking, comprehension, *args)."""
    v = r(v)
    if _safe_iterable(v):
        return v
    t = type(v)
    if t is _Nest:
        return v  # (its loops' iterables went through it() themselves)
    if t is _Map or isinstance(v, _Steps):
        return v._lazy() if _on_driver() else v
    if t is _GeneratorType:
        w = _twin_walk(v)  # a generator expression: its lazy twin's steps
        if w is not None:
            return w
    if getattr(t, "__iter__", None) is None and not hasattr(t, "__getitem__"):
        # not iterable: Python's own message where it iterates ("cannot unpack
        # non-iterable int object", "argument after * must be an iterable")
        return v
    return _guarded(_iter_of(v))


_UNPACK_CATS = ("seq", "nd", "str")
_unpackers = {}


def _unpacker(n):
    """A function doing `a0, ..., a{n-1} = v`: Python's own unpacking, its
    messages (not enough values, too many, non-iterable) included. Compiled
    under this file's name, so tracebacks hide its frame as pydron's."""
    f = _unpackers.get(n)
    if f is None:
        names = "".join(f"a{k}, " for k in range(n))
        ns = {}
        exec(compile(f"def unpack(v):\n    {names}= v\n    return ({names})\n", __file__, "exec"),
             ns)
        f = _unpackers[n] = ns["unpack"]
    return f


def unpack(v, n):
    """`a, b = v` (n targets, none starred). While v is a placeholder not
    computed yet whose category unpacks without running code of the program
    (a tuple or list of such values, an array, a string), one deferred
    operation unpacks it in program order (raising Python's own error there
    if the length is wrong) and each target gets a placeholder for its item:
    `m, s = stats(x)` in a loop does not wait for each result. Else as
    `it(v)`."""
    if isinstance(v, S.Future) and not v.done() and _pending and _on_driver() \
            and v.category() in _UNPACK_CATS:
        f = _unpacker(n)
        u = _defer(f, (v,), None, ("u", n), "seq")
        key = ("i", "seq")
        cat = RESULT_CATS.get(key)
        items = tuple(_defer(operator.getitem, (u, k), None, key, cat) for k in range(n))
        if type(v) is S.Future:
            for k, lz in enumerate(items):
                lz.early = _ahead(v, lambda val, k=k: f(val)[k])
        return items
    return it(v)


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
    _touch()  # may change an object in place (an array's shape, ...)
    obj = r(obj)
    t = type(obj)
    if _pending and _has_future(value) and _record_type(t) and not _runs_code(t, name, True) \
            and _on_driver():
        # star.flux = measure(star.image): the object holds the placeholder
        # (a record, settled like a list before other code sees it)
        _records.add(t)
        _tainted[id(obj)] = obj
    else:
        value = rdeep(value)
    if _pending and t not in _PLAIN_ATTR and _runs_code(t, name, True):
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


def ostore(value):
    """The value for a store into a `nonlocal` name (or a `global` one among
    other targets): resolved, and stored once the tasks called before have
    finished (a barrier: a failure among them comes first, and the cell
    keeps the value plain Python leaves in it)."""
    value = rdeep(value)
    if _pending:
        barrier()
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


_IN_PLACE = {op: f"__i{f.__name__[1:]}__" for op, f in _AUG.items()}


def _aug_later(op, a, b):
    """`a op= b` as a deferred operation (its value what the name is bound to)."""
    key = ("a", op)
    return _defer(_AUG[op], (a, b), None, key, S.backend.RESULT_CATS.get(key))


def aug(op, a, b):
    """`a op= b`; returns the new value to bind."""
    _touch()  # in place for arrays, lists, ...
    if _pending and (type(a) is S.Lazy or type(b) is S.Lazy or isinstance(a, S.Future)
                     or isinstance(b, S.Future)) and _on_driver():
        ca, cb = _capture(a), _capture(b)
        # the left operand must not be an array a task returned (+= would change
        # it in place, under aliases of the same Future)
        if ca >= 0 and cb >= 0 and (ca | cb) == 1 and op != "%" and not (
                type(a) is S.Future and a.category() in ("nd", "seq", "map")):
            return _aug_later(op, a, b)
    # operands as ro() gives them: behind a barrier when either is of a
    # class of the program (its __iadd__, or the other's __radd__, is its code)
    a = ro(a)
    if op == "+" and type(a) is list:
        b = r(b)
        if type(b) in (list, tuple):
            _list_extend(a, b)
            return a
    b = ro(rdeep(b)) if op == "%" else ro(b)
    if _pending and hasattr(type(a), _IN_PLACE[op]):
        _save_before(a)  # changed in place: undone if a task called before fails
    return _AUG[op](a, b)


# --------------------------------------------------------------------------
# list and dict methods that accept placeholders without looking at them


def _list_append(lst, v, /):
    if _pending:
        _log(lst.pop)
    if type(v) is S.Future:
        # the value replaces it there once it has finished (barriers._poll)
        v._l = (id(lst), len(lst))  # ids: no reference cycle, the list's refcount tells if it is dead
        lst.append(v)
        _tainted[id(lst)] = lst
        return
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
