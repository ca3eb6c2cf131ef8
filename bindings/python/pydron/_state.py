"""The program's state as of a @functional call, carried to its task.

* **Module globals.** A function that travels by value (defined in
  ``__main__`` or in a module of the program, a closure, a lambda) is pickled
  with the globals it reads, and so are the helpers and script classes it
  reaches. ``FnState`` remembers those globals (transitively) and a cheap
  token of their values: the object itself for numbers, strings, functions,
  classes and modules, the pickled bytes (large buffers hashed, and hashed
  again only after driver code that may have changed them) for anything
  mutable. A call whose tokens match the last ones reuses the pickled
  function; otherwise a new version is pickled. In-process executors run a
  copy made from those bytes, so a change after the call is not seen either.

Process settings, log records and warnings of tasks: ``pydron._settings``.

The program's modules are those whose file lies under the directory of the
main script, outside the interpreter's and site-packages' directories.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import pickle
import sys
import types
from math import copysign as _copysign
from operator import is_ as _is

from ._core import type_tag as _type_tag

# -- the program's own modules ---------------------------------------------

_prog_n = -1
_prog_names: frozenset = frozenset()
_prog_seen: dict = {}  # module name -> bool


def _program_root():
    main = sys.modules.get("__main__")
    f = getattr(main, "__file__", None)
    if not f:
        return None
    d = os.path.dirname(os.path.realpath(f))
    parent = getattr(getattr(main, "__spec__", None), "parent", None)
    if parent:  # python -m pkg.mod: the directory holding the top package
        for _ in parent.split("."):
            d = os.path.dirname(d)
    return None if d == os.path.dirname(d) else d


def program_modules() -> frozenset:
    """Names of the imported modules that belong to the program (their
    functions travel by value, with the globals they read)."""
    global _prog_n, _prog_names
    n = len(sys.modules)
    if n == _prog_n:
        return _prog_names
    root = _program_root()
    names = set()
    if root is not None:
        root += os.sep
        here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
        excl = tuple({os.path.realpath(p) + os.sep for p in
                      (sys.prefix, sys.base_prefix, sys.exec_prefix, here)})
        for name, m in list(sys.modules.items()):
            ok = _prog_seen.get(name)
            if ok is None:
                f = getattr(m, "__file__", None)
                ok = False
                if f and name != "__main__":
                    f = os.path.realpath(f)
                    ok = (f.startswith(root) and not f.startswith(excl)
                          and "site-packages" not in f and "dist-packages" not in f)
                _prog_seen[name] = ok
            if ok:
                names.add(name)
    _prog_n, _prog_names = n, frozenset(names)
    return _prog_names


# -- globals a function reads -------------------------------------------------

_MISSING = object()
_MISSINGS = itertools.repeat(_MISSING)  # (map(d.get, names, _MISSINGS): d.get(name, _MISSING))
_ATOMIC = frozenset([int, float, complex, bool, str, bytes, type(None)])
_BYID = (types.FunctionType, type, types.ModuleType, types.BuiltinFunctionType,
         types.MethodDescriptorType, types.WrapperDescriptorType, logging.Logger)
_MAX_FUNCS = 500  # bound on the functions walked for one task function
# a class's entries that are its code, not its attributes' values
_METHODS = (types.FunctionType, staticmethod, classmethod, property)


# Large buffers (numpy arrays of 64 KiB and more) are hashed, not copied, and
# not even hashed again while nothing could have changed them: EPOCH counts
# the driver events that may change an object in place (unknown code behind a
# barrier, `x op= y`, attribute stores, `out=` arguments, code outside
# @schedule functions), TRACKING says the calls come from translated code
# (which reports those events; see pydron._runtime).
EPOCH = 0
TRACKING = False


# The exception a placeholder's pickling raised last (Future.__reduce_ex__:
# an earlier call's failure, raised at this point in program order, or a
# failed deferred operation). Pickling sites that try another way after an
# exception (snapshots, the argument picklers) re-raise this one instead:
# the runtime raises such a failure once, so swallowing it would lose it and
# leave later calls reading placeholders of statements that never ran.
RAISING = None


def program_failure(e) -> bool:
    """e is the failure a placeholder's pickling raised (see RAISING)."""
    return e is not None and e is RAISING


def touch():
    """The driver may have changed objects in place (see EPOCH)."""
    global EPOCH
    EPOCH += 1


class _Snap:
    """Token of a mutable value: its pickle, large buffers as their owners
    and hashes."""

    __slots__ = ("data", "owners", "digests", "epoch", "top")

    def __eq__(self, other):  # pragma: no cover - compared through _same
        return NotImplemented


class _Collect(list):
    """buffer_callback: buffers of 64 KiB and more are kept out of the pickle."""

    __slots__ = ()

    def __call__(self, pb):
        if pb.raw().nbytes < 65536:
            return True
        self.append(pb)
        return False


def _snap(v, prev=None):
    bufs = _Collect()
    try:
        data = pickle.dumps(v, 5, buffer_callback=bufs)
    except Exception as e:  # noqa: BLE001 - cannot be snapshot: compare identity
        if program_failure(e):
            raise
        return v
    sn = _Snap()
    sn.data = data
    sn.epoch = EPOCH
    sn.top = v
    raws = [pb.raw() for pb in bufs]
    sn.owners = [r.obj for r in raws]
    if (prev is not None and TRACKING and prev.epoch == EPOCH and len(prev.owners) == len(raws)
            and all(a is b for a, b in zip(prev.owners, sn.owners))):
        sn.digests = prev.digests  # the same arrays, nothing ran that could change them
    else:
        sn.digests = [hashlib.sha1(r).digest() for r in raws]
    return sn


def _plain_array(v):
    """A numpy array of numbers: changed in place only by what EPOCH counts
    (an object array's items are objects that list operations change)."""
    t = type(v)
    return t.__name__ == "ndarray" and t.__module__ == "numpy" and not v.dtype.hasobject


class _Empty:
    """Token of an empty list, dict or set: the same while the value is an
    empty one of the same type (its pickle would be the same bytes), without
    pickling it at each check (dataclasses' __repr__ holds such a set in a
    closure cell: every version check of a dataclass pickled it)."""

    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t


_EMPTY_TYPES = frozenset([list, dict, set])


def _frozen(v, depth=0):
    """v is an atom or a tuple of them (nested at most 4 deep): it cannot
    change, so it is its own token, compared by identity."""
    t = type(v)
    if t in _ATOMIC:
        return True
    return t is tuple and depth < 4 and len(v) <= 64 and all(_frozen(x, depth + 1) for x in v)


def _token(v):
    t = type(v)
    if t in _ATOMIC or isinstance(v, _BYID):
        return v
    if t is tuple and _frozen(v):
        return v  # (a function's __defaults__): unchanged while it is the same tuple
    if t in _EMPTY_TYPES and not v:
        return _Empty(t)
    return _snap(v)


def _same(old, v):
    if old is v:
        return True
    t = type(old)
    if t is _Empty:
        return type(v) is old.t and not v
    if t is _Snap:
        if old.top is v and TRACKING and old.epoch == EPOCH and _plain_array(v):
            return True  # the same array, and nothing ran that could change it
        if not old.owners:
            # no large buffers last time: the plain pickle is the same bytes
            # (a large buffer now would be in it: different bytes)
            try:
                return pickle.dumps(v, 5) == old.data
            except Exception as e:  # noqa: BLE001
                if program_failure(e):
                    raise
                return False
        new = _snap(v, old)
        if type(new) is not _Snap or new.data != old.data or new.digests != old.digests:
            return False
        old.epoch, old.owners, old.top = new.epoch, new.owners, v
        return True
    if t is tuple:  # a frozen token (_frozen): rebound, an equal tuple is the same pickle
        try:
            return type(v) is tuple and pickle.dumps(v, 5) == pickle.dumps(old, 5)
        except Exception as e:  # noqa: BLE001
            if program_failure(e):
                raise
            return False
    if t in _ATOMIC and type(v) is t and old == v:
        # equal, yet another value: -0.0 == 0.0 (copysign, 1/x and atan2 tell them apart)
        if t is float:
            return _copysign(1.0, old) == _copysign(1.0, v)
        if t is complex:
            return (_copysign(1.0, old.real) == _copysign(1.0, v.real)
                    and _copysign(1.0, old.imag) == _copysign(1.0, v.imag))
        return True
    return False


def _by_value(obj, progmods) -> bool:
    mod = getattr(obj, "__module__", None)
    if mod == "__main__":
        return True
    if isinstance(obj, types.FunctionType) and mod in progmods:
        return True
    try:
        from cloudpickle import cloudpickle as cp

        return not cp._should_pickle_by_reference(obj)
    except Exception:  # noqa: BLE001 - odd objects: assume by reference
        return False


_ATTR_OPS = frozenset(["LOAD_ATTR", "LOAD_METHOD"])
_mod_attrs_cache: dict = {}


def _module_attrs(code):
    """Chains `name.attr1.attr2...` read by the code (and the code nested in
    it), as tuples: attributes of modules the code reads through them."""
    r = _mod_attrs_cache.get(code)
    if r is not None:
        return r
    import dis

    chains = set()
    todo = [code]
    while todo:
        c = todo.pop()
        chain = None
        for ins in dis.get_instructions(c):
            if ins.opname == "LOAD_GLOBAL":
                chain = [ins.argval]
            elif chain is not None and ins.opname in _ATTR_OPS:
                chain.append(ins.argval)
                continue
            if chain is not None and len(chain) > 1:
                chains.add(tuple(chain))
            if ins.opname != "LOAD_GLOBAL":
                chain = None
        if chain is not None and len(chain) > 1:
            chains.add(tuple(chain))
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    r = frozenset(chains)
    if len(_mod_attrs_cache) > 4096:
        _mod_attrs_cache.clear()
    _mod_attrs_cache[code] = r
    return r


def _draws_global(v):
    """v draws from the process-wide state of `random` or `numpy.random`
    (random.random, np.random.rand: methods of the modules' hidden generator)."""
    from ._purity import rng_types

    s = getattr(v, "__self__", None)
    return s is not None and type(s) in rng_types()


def _is_enum(cls):
    import enum

    return isinstance(cls, enum.EnumMeta)


def _deps(fn, modattrs=None, globalrng=None, classes=None):
    """(holder, key) pairs whose values the pickled function carries: the
    globals read by fn and by every function/class it reaches by value,
    closure cells and defaults, and attributes of the program's modules read
    as `module.name` (collected in modattrs: module name -> names). Names of
    functions drawing from the global random state go to globalrng.
    classes (a list): the by-value classes reached go there, their by-value
    bases and metaclasses (which a class's pickle carries) walked too; None
    appended when the walk stopped at its bound (the list is incomplete)."""
    from cloudpickle import cloudpickle as cp

    progmods = program_modules()
    out = []
    seen = set()
    todo = [fn]

    def push(v):
        if isinstance(v, (types.FunctionType, type)) and id(v) not in seen and _by_value(v, progmods):
            todo.append(v)

    while todo and len(seen) < _MAX_FUNCS:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if isinstance(f, type):
            if classes is not None:
                classes.append(f)
                for b in f.__bases__:
                    push(b)
                push(type(f))
            plain = not _is_enum(f)
            for k, v in list(vars(f).items()):
                if plain and not k.startswith("_") and not isinstance(v, _METHODS):
                    # a class attribute (`self.weight`): a change makes a new version
                    out.append((f, k))
                if isinstance(v, (staticmethod, classmethod)):
                    v = v.__func__
                if isinstance(v, property):
                    for a in (v.fget, v.fset, v.fdel):
                        push(a)
                else:
                    push(v)
            continue
        g = f.__globals__
        for name in cp._extract_code_globals(f.__code__):
            if name in g:
                out.append((g, name))
                push(g[name])
                if globalrng is not None and _draws_global(g[name]):
                    globalrng.append(name)  # from random import random
        for chain in _module_attrs(f.__code__):
            if globalrng is not None:
                m = g.get(chain[0])
                for i, attr in enumerate(chain[1:]):
                    if type(m) is not types.ModuleType:
                        break
                    m = m.__dict__.get(attr)
                    if _draws_global(m):
                        globalrng.append(".".join(chain[:i + 2]))  # random.random, np.random.rand
                        break
            m = g.get(chain[0])
            for attr in chain[1:]:
                if isinstance(m, type):
                    # Class.attr of a class travelling by value (with its
                    # attributes as of now): a change must make a new version
                    if attr in m.__dict__ and _by_value(m, progmods):
                        out.append((m, attr))
                    break
                if type(m) is not types.ModuleType or m.__name__ not in progmods \
                        or attr not in m.__dict__:
                    break
                out.append((m.__dict__, attr))
                if modattrs is not None:
                    modattrs.setdefault(m.__name__, set()).add(attr)
                m = m.__dict__[attr]
                push(m)
        for c in f.__closure__ or ():
            out.append((c, None))
            try:
                push(c.cell_contents)
            except ValueError:
                pass
        if f.__defaults__:
            out.append((f, "__defaults__"))
        if f.__kwdefaults__:
            out.append((f, "__kwdefaults__"))
    if classes is not None and todo:
        classes.append(None)  # stopped at _MAX_FUNCS
    return out


def _get(dep):
    holder, key = dep
    if key is None:
        try:
            return holder.cell_contents
        except ValueError:
            return _MISSING
    if type(holder) is dict:
        return holder.get(key, _MISSING)
    return getattr(holder, key, _MISSING)


class FnState:
    """The globals a by-value function reads and their tokens at its last
    pickled version."""

    __slots__ = ("deps", "tokens", "rngs", "modattrs")

    def __init__(self, fn):
        from ._purity import rng_types

        self.modattrs = {}
        draws = []
        self.deps = _deps(fn, self.modattrs, draws)
        if draws:
            from ._purity import rng_module_state

            rng_module_state(fn, draws)
        vals = [_get(d) for d in self.deps]
        self.tokens = [_token(v) for v in vals]
        rt = rng_types()
        self.rngs = [d[1] for d, v in zip(self.deps, vals) if type(v) in rt and d[1]]

    def changed(self) -> bool:
        for d, old in zip(self.deps, self.tokens):
            if not _same(old, _get(d)):
                return True
        return False


class ClassState:
    """What the pickle of a by-value class carries, for reusing that pickle
    (a class version) while none of it changed: the globals its methods
    read (as FnState), and every entry of the class dicts of the by-value
    classes it reaches (itself, its bases and metaclass, classes its
    methods name), compared by identity - a method replaced, an attribute
    rebound, added or deleted makes a new version - and, for attributes
    that are not dunder names, by value as FnState compares globals (a
    list changed in place too)."""

    __slots__ = ("deps", "tokens", "modattrs", "dicts", "classes", "tags")

    def __init__(self, cls):
        self.modattrs = {}
        classes = []
        deps = _deps(cls, self.modattrs, None, classes)
        if None in classes:
            raise ValueError("the class reaches too many functions to be versioned")
        seen = {(id(h), n) for h, n in deps}
        for k in classes:
            for name, v in vars(k).items():
                if not (name.startswith("__") and name.endswith("__")) \
                        and not isinstance(v, _METHODS) and (id(k), name) not in seen:
                    deps.append((k, name))
        self.deps = deps
        self.tokens = [_token(_get(d)) for d in deps]
        self.classes = classes
        # (class, its names, their values): compared in C loops (map/all),
        # checked at every call that hands an object of the class to a task.
        # Not __slotnames__: pickle caches it in the class the first time it
        # pickles an instance (copyreg._slotnames), which may be in the very
        # pickle that took this version (an argument of the class after an
        # object whose methods name it): a new version then, mid-pickle, gave
        # the in-process copies two different copies of the one class.
        self.dicts = [(k, *_class_items(k)) for k in classes]
        self.tags = _type_tags(classes)

    def changed(self) -> bool:
        tags = self.tags
        if tags is None or _type_tags(self.classes) != tags:
            # a class may have changed since its tag (or had none): its dict
            for k, names, vals in self.dicts:
                d = k.__dict__
                if len(d) - ("__slotnames__" in d) != len(names) or \
                        not all(map(_is, map(d.get, names, _MISSINGS), vals)):
                    return True
            self.tags = _type_tags(self.classes)  # the same dicts: the tags they have now
        return not all(map(_same, self.tokens, map(_get, self.deps)))


def _class_items(k):
    """(names, values) of the entries of class k's dict but __slotnames__."""
    items = [(n, v) for n, v in vars(k).items() if n != "__slotnames__"]
    return tuple(n for n, _ in items), tuple(v for _, v in items)


def _type_tags(classes):
    """The classes' version tags (_core.type_tag), or None if one has none."""
    tags = tuple(map(_type_tag, classes))
    return tags if all(tags) else None


def dumps_class(cls, cst) -> bytes:
    """The pickle of a by-value class as of now (its version), as a
    function's version carries it (cst: its ClassState)."""
    return _dumps_by_value(cls, cst.modattrs)


def fn_state(fn):
    """FnState of fn, or None when fn travels by reference (nothing to snapshot)
    or reads no globals."""
    if not isinstance(fn, types.FunctionType) or not _by_value(fn, program_modules()):
        return None
    st = FnState(fn)
    return st if st.deps else None


def _module_view(name, attrs):
    """The module `name` as the task sees it: the attributes the task's code
    reads, as of the call, over the module as imported here."""
    import importlib

    real = importlib.import_module(name)
    m = types.ModuleType(name)
    m.__dict__.update(real.__dict__)
    m.__dict__.update(attrs)
    return m


def _code_reduce(code):
    """cloudpickle's reduction of a code object with its real file name kept
    (cloudpickle writes "<dynamic-code>"): tracebacks and warnings of tasks
    name the program's file and line, and show the source line."""
    from cloudpickle import cloudpickle as cp

    ctor, args = cp._code_reduce(code)
    args = tuple(code.co_filename if a == "<dynamic-code>" else a for a in args)
    return ctor, args


def dumps_function(fn, settings, fst=None) -> bytes:
    """Pickle (fn, settings): functions of the program's modules by value, so
    their globals travel as of now, and so do the attributes of the program's
    modules read as `module.name` (fst.modattrs)."""
    return _dumps_by_value((fn, settings), fst.modattrs if fst is not None else {})


def _dumps_by_value(obj, modattrs) -> bytes:
    """Pickle obj with the program's functions by value, and the attributes
    of the program's modules named in modattrs (module name -> names) as of
    now."""
    import io

    from ._serialize import cloud_pickler

    progmods = program_modules()

    class P(cloud_pickler()):  # keeps file names for the tasks' tracebacks
        def reducer_override(self, obj):
            t = type(obj)
            if t is types.FunctionType and obj.__module__ in progmods:
                return self._dynamic_function_reduce(obj)
            if t is types.ModuleType and obj.__name__ in modattrs:
                d = obj.__dict__
                return _module_view, (obj.__name__, {a: d[a] for a in modattrs[obj.__name__] if a in d})
            if t is types.CodeType:
                return _code_reduce(obj)
            return super().reducer_override(obj)

    f = io.BytesIO()
    P(f, 5).dump(obj)
    return f.getvalue()
