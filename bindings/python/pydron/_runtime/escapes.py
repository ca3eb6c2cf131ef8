"""What the program sees of its frame and of the functions it made: nothing of
pydron's (internal names, placeholders, pydron's frames). The translator's
`calls` and `closures` passes emit these helpers."""

import functools
import sys
import types
import weakref as _weakref

from .barriers import _has_future, _settle, r, rdeep, sync
from .state import S, _on_driver
from .tables import _FunctionType, _MethodType

_partial = functools.partial


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
            if isinstance(v, S.Future) or type(v) in (list, tuple, dict):
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


class _MStar:
    """`obj.name(*a, **k)` in translated code: as _Star, for mcall."""

    __slots__ = ("obj", "name")

    def __init__(self, obj, name):
        self.obj = obj
        self.name = name

    def __call__(self, /, *args, **kwargs):
        return _calls.mcall(self.obj, self.name, *args, **kwargs)

    def _method(self):  # only on the error path
        return getattr(r(self.obj), self.name)

    __module__ = property(lambda self: getattr(self._method(), "__module__", None))

    def __getattr__(self, name):
        if name == "__qualname__":
            return getattr(self._method(), name)
        raise AttributeError(name)

    def __str__(self):
        return str(self._method())


def mstar(obj, name):
    return _MStar(obj, name)


def star(f):
    return _Star(f, _calls.call)


def estar(f):
    return _Star(f, _calls.ecall)


def deco(d):
    """`@d` in translated code: applying the decorator is a call like any other
    (unknown code waits for earlier tasks and sees values)."""
    return _partial(_calls.call, d)


def edeco(d):
    return _partial(_calls.ecall, d)


# Functions made by translated code while a @schedule call runs (id -> weak
# reference): their defaults and the cells they close over may hold
# placeholders; they get values before code that is not translated can look.
_closures = {}
_closures_prune = 1024


def closure(fn):
    global _closures_prune
    if S.driver is not None and _on_driver():
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


def _settle_done(v):
    return _settle(v, set())


def _settle_closures(value=None, only=None):
    """Give registered functions values (rdeep: wait; after a failure,
    _settle_done gives those of finished tasks only)."""
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


from . import calls as _calls  # noqa: E402  (calls imports this module)
