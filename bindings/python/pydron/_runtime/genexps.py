"""Generator expressions consumed whole by a builtin (`sum(f(x) for x in xs)`).

A generator expression is an eager zone: its items are computed as they are
yielded, for whatever code consumes it, so `sum(f(x) for x in xs)` made each
call wait for the one before. The translator gives a generator expression of
one `for` a lazy twin over the same source (_translate/genexps.py):

    __pydron__.gx((e for x in __pydron__.gxsrc(it(xs)) if c),
                  (e' for x in __pydron__.gxlast() if c'))

The twin's helpers (pcall, pbop, ...) do what the lazy zone's do, but never
run anything with an effect or code of the program: where the lazy helper
would (an unknown call, a print, a user-defined operator, a property), they
raise _Bail instead. A builtin that consumes its argument whole (sum, max,
sorted, set, ...) takes the twin's steps first, so every task is submitted
before the first is waited for, and then reads the values in order
(iterators._InOrder: the consumer sits between step i and step i + 1). At
the first step the twin cannot take (_Bail, or any exception), that step's
tasks are forgotten, its source item is pushed back, and the consumer goes
on with the eager generator from that item, one item at a time, as before:
its effects and exceptions come after the consumer has taken the items
before it. The source is only stepped ahead when that runs no code of the
program (a list, a range, an array, ...: tables._safe_iterable).
"""

import types

from .. import _state
from .._backend import category as _category
from .barriers import r, rdeep
from .lookahead import (_ND_ATTRS, _SAFE_METHODS, _TRUSTED, _deferrable_funcs, _runs_code, attr,
                        bop, cop, eattr, fv, item, rsub, uop)
from .state import S, _on_driver
from .state import pending as _pending
from . import stores as _stores
from .stores import it
from .tables import _SCALARS, _safe_iterable, _unseen

_NONE = object()
_range = range
_FunctionType = types.FunctionType
_MethodType = types.MethodType
_ModuleType = types.ModuleType


class _Bail(Exception):
    """A step of a lazy twin would run something with an effect."""


class _GxSource:
    """The source iterator a generator expression and its twin share. Items
    can be given back (front: the next one last): the item of the step the
    twin could not take, and those of steps the consumer never took. While
    the twin steps for a consumer, what it takes is logged for that (log;
    marks[k]: the log's length and S.last_seq after step k)."""

    __slots__ = ("_it", "front", "last", "twin", "log", "marks", "__weakref__")

    def __init__(self, iterable):
        self._it = iter(iterable)
        self.front = []
        self.last = _NONE
        self.twin = None
        self.log = self.marks = None

    def __iter__(self):
        return self

    def __next__(self):
        front = self.front
        if front:
            v = front.pop()
        else:
            self.last = _NONE
            v = next(self._it)
        self.last = v
        log = self.log
        if log is not None:
            log.append(v)
        return v


_made = [None, None]  # the source gxsrc made, then the one gxlast handed out

# > 0 while a twin takes a step (steps, _walk): a _Nest then takes no inner
# iterable that would run code of the program to iterate
_stepping = [0]


class _Nest:
    """`nest(xs, "n", lambda x: ys)`: the loops of a generator expression of
    several `for`s (_translate/genexps._flat), as one iterator of tuples of
    the loops' values, stepped as the expression steps them: each inner
    iterable is made (its lambda called) when its loop is reached and
    iterated through it(). Taken by a twin's step, an inner iterable that is
    not a plain container (one whose iteration runs code of the program)
    raises _Bail, and the outer value waits (held) for the generator itself
    to take it."""

    __slots__ = ("_its", "_vals", "_inners", "_kinds", "_held", "safe", "__weakref__")

    def __init__(self, first, kinds, inners, safe):
        self._inners = inners
        # per inner loop: "n" its lambda gives the iterable, "r" (f, args),
        # "a", "s", "l" a nref of an attribute's, item's or slice's name and key
        self._kinds = kinds
        self._its = [iter(first)]
        self._vals = []
        self._held = _NONE
        self.safe = safe  # the first iterable may be stepped ahead (gxsrc)

    def __iter__(self):
        return self

    def __next__(self):
        its, vals = self._its, self._vals
        n = len(self._inners) + 1
        while True:
            v = self._held
            if v is _NONE:
                try:
                    v = next(its[-1])
                except StopIteration:
                    if len(its) == 1:
                        raise
                    its.pop()
                    vals.pop()
                    continue
                if len(its) == n:
                    return (*vals, v)
                self._held = v
            k = len(vals)
            inner = self._inners[k](*vals, v)
            kind = self._kinds[k]
            if kind == "r":
                f, a = inner
                if f is _range:
                    inner = _range(*(r(x) for x in a))
                elif _stepping[0]:
                    raise _Bail()  # the program's own `range`
                else:
                    inner = _calls.ecall(f, *a)
            elif kind != "n":
                inner = _reach(kind, inner.obj, inner.key)
            inner = it(inner)
            if _stepping[0] and not _safe_iterable(inner):
                raise _Bail()
            nxt = iter(inner)
            self._held = _NONE
            vals.append(v)
            its.append(nxt)


_stores._Nest = _Nest


class _Ref:
    """nref(): an inner iterable's name and key, as the lambda of nest gives
    them (rdeep does not look into it)."""

    __slots__ = ("obj", "key")

    def __init__(self, obj, key):
        self.obj = obj
        self.key = key


def nref(obj, key):
    return _Ref(obj, key)


_SLICEABLE = (list, tuple, str, bytes, _range)


def _reach(kind, obj, key):
    """The inner iterable `obj.key` ("a"), `obj[key]` ("s") or `obj[lo:hi:step]`
    ("l", key the bounds) as the generator expression reads it (eattr, rsub:
    behind a barrier where that runs code of the program); in a step of the
    twin, only where it runs none (a property, a __getattr__, a __getitem__
    or __index__ of the program's: _Bail)."""
    if kind == "a":
        if _stepping[0]:
            return pattr(obj, key)
        return eattr(obj, key)
    if kind == "s":
        if _stepping[0]:
            return pitem(obj, key)
        return rsub(obj)[rdeep(key)]
    bounds = [r(b) for b in key]
    if _stepping[0]:
        obj = r(obj)
        if not (type(obj) in _SLICEABLE or _inert(obj)) \
                or any(b is not None and type(b) is not int for b in bounds):
            raise _Bail()
        return obj[slice(*bounds)]
    return rsub(obj)[slice(*bounds)]


def nest(first, kinds, *inners):
    """The iterator of a generator expression of several `for`s (_Nest)."""
    v = r(first)
    # (our references: the parameter and, when r gave it back, v)
    return _Nest(it(v), kinds, inners, _safe_iterable(v) and _unseen(v, 2 if v is first else 1))


def _step(twin):
    _stepping[0] += 1
    try:
        return next(twin)
    finally:
        _stepping[0] -= 1


def gxsrc(v):
    """The outermost iterable of a generator expression (after it()): shared
    with its twin when stepping it runs no code of the program. (Translated
    code that other threads run never gets a twin: _made is the driver's.)"""
    if not _on_driver():
        return v
    if type(v) is _Nest:
        if v.safe:
            src = _made[0] = _GxSource(v)
            return src
        _made[0] = None
        return v
    if _safe_iterable(v) and _unseen(v, 1):   # (1: our parameter)
        src = _made[0] = _GxSource(v)
        return src
    _made[0] = None
    return v


def gxlast():
    """The twin's source: the one gxsrc made just before (nothing if none).
    The three helpers run one right after the other on the driver: gxsrc
    while the generator expression is made, gxlast while its twin is, then
    gx."""
    if not _on_driver():
        return ()
    src = _made[1] = _made[0]
    _made[0] = None
    return src if src is not None else ()


def gx(gen, twin):
    """The generator expression itself; its twin is kept on the shared source."""
    if not _on_driver():
        return gen
    src = _made[1]
    _made[1] = None
    if src is not None:
        src.twin = twin
    return gen


def twin_source(gen):
    """The shared source of an unstarted generator expression with a twin, or None."""
    if type(gen) is not types.GeneratorType or gen.gi_running or gen.gi_suspended:
        return None
    frame = gen.gi_frame
    if frame is None:
        return None
    src = frame.f_locals.get(".0")
    if type(src) is not _GxSource or src.twin is None or src.twin.gi_frame is None:
        return None
    return src


def steps(gen, src, limit=None, close=True):
    """Take up to `limit` of the twin's steps (S.batching set by the caller).
    Returns (steps, rest): rest is None when the twin took every step (then
    `gen` is closed, as a consumer leaves it, unless not `close`: the
    consumer's reading of the steps does it at their end); the eager
    generator `gen`, to go on with from the item pushed back, when it could
    not take one; `src` when it stopped at the limit (more later)."""
    twin = src.twin
    log, marks = src.log, src.marks  # (None: not logged)
    out = []
    while limit is None or len(out) < limit:
        mark, lf = S.last_seq, S.last_failure
        try:
            v = _step(twin)
        except StopIteration:
            src.twin = src.log = src.marks = None
            if close:
                gen.close()  # consumed, as the sequential program leaves it
            return out, None
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            src.twin = src.log = src.marks = None
            if log and src.last is not _NONE and log[-1] is src.last:
                log.pop()  # given back now (_give_back), not with the steps'
            _earlier(twin, mark, lf, e)
            _give_back(src, twin, mark, e)
            return out, gen
        out.append(v)
        if marks is not None:
            marks.append((len(log), S.last_seq))
    return out, src


def give_back(src, log, marks, i):
    """The consumer of the steps stopped early, having taken i of them: the
    items the later steps took go back to the source (before any given back
    already: they came first), so that the generator expression, if the
    program goes on with it, yields the item after step i - 1's. A twin
    paused at a window's end is closed."""
    twin, src.twin = src.twin, None
    src.log = src.marks = None
    if twin is not None:
        twin.close()
    if log is None or i > len(marks):
        return  # the consumer was past the steps: the generator itself had the rest
    m = marks[i - 1][0] if i else 0
    src.front.extend(reversed(log[m:]))


def walk(gen, src):
    """A translated loop over the generator expression: the twin's steps, one
    per step of the loop (placeholders: each task is submitted when the loop
    reaches it, nothing is taken ahead); from the first step the twin cannot
    take, the expression's own values."""
    twin, src.twin = src.twin, None
    return _walk(gen, src, twin)


def _walk(gen, src, twin):
    while True:
        mark, lf = S.last_seq, S.last_failure
        try:
            v = _step(twin)
        except StopIteration:
            gen.close()  # consumed, as the sequential program leaves it
            return
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            _earlier(twin, mark, lf, e)
            _give_back(src, twin, mark, e)
            break
        yield v
    for v in gen:  # (not `yield from`: a loop left early does not close gen)
        yield v


def _earlier(twin, mark, lf, e):
    """Raise the failure of a task or deferred operation from before the step
    (program-order number <= mark) if the step raised it: a submission polls
    the finished front (_track, _shrink) and raises the first failure whose
    turn has come. That is the program's exception at this point (every
    statement before it has run, nothing after it will), not the step's: it
    is not forgotten with the step. (S.last_failure is a new tuple for each
    failure raised; `lf` is the one before the step.)"""
    now = S.last_failure
    if now is lf or now is None or now[0] > mark:
        return
    twin.close()
    if now[1] is e:
        raise e
    raise now[1] from None  # (a site that raised another exception for it)


def _give_back(src, twin, mark, e):
    """The step the twin could not take: its tasks are forgotten and its
    source item goes back, for the eager generator to take again."""
    _state.RAISING = None
    if src.last is not _NONE:
        src.front.append(src.last)
    _forget_after(mark)
    twin.close()
    if type(e) is not _Bail:
        e.__traceback__ = None


def _forget_after(mark):
    """Drop the tasks and operations the abandoned step added (they run, and
    nobody looks at them)."""
    while _pending and _pending[-1][0] > mark:
        _pending.pop()


# --------------------------------------------------------------------------
# The twin's helpers: the lazy zone's, where they run nothing with an effect.

def _inert(v):
    """May an operator, a builtin or a format look at `v` without running code
    of the program?"""
    t = type(v)
    if t in _SCALARS:
        return True
    if isinstance(v, S.Future):
        return v.category() in _TRUSTED
    if t is tuple:
        return all(map(_inert, v))
    # numpy arrays and scalars, not of dtype object (its items' dunders run)
    return t.__module__ == "numpy" and _category(v) is not None


def _all_inert(args, kwargs):
    return all(map(_inert, args)) and (not kwargs or all(map(_inert, kwargs.values())))


def _settle(v):
    """A placeholder's value if it is there, or if its category is not known
    yet (the first results of a function): then the value decides. A pending
    one of a known effect-free category stays (an operation on it is deferred,
    as the look-ahead defers it)."""
    if isinstance(v, S.Future) and (v.done() or v.category() not in _TRUSTED):
        return r(v)
    return v


def _pending_trusted(v):
    return isinstance(v, S.Future) and not v.done() and v.category() in _TRUSTED


def pcall(f, /, *args, **kwargs):
    f = r(f)
    tf = type(f)
    if tf is _FunctionType:
        if getattr(f, "__pydron_kind__", None) == "functional":
            return _calls.fast_call(f, *args, **kwargs)
    elif tf is _MethodType:
        if getattr(f.__func__, "__pydron_kind__", None) == "functional":
            return _calls.call(f, *args, **kwargs)
    elif (id(f) in _calls._PURE_IDS or id(f) in (S.deferrable_ids or _deferrable_funcs())) \
            and not (kwargs and "out" in kwargs):
        args = tuple(map(_settle, args))
        if kwargs:
            kwargs = {k: _settle(v) for k, v in kwargs.items()}
        if _all_inert(args, kwargs):
            return _calls.call(f, *args, **kwargs)
    raise _Bail


def pmcall(obj, name, /, *args, **kwargs):
    if type(obj) is _ModuleType:
        return pcall(getattr(obj, name), *args, **kwargs)
    obj = _settle(obj)
    args = tuple(map(_settle, args))
    if isinstance(obj, S.Future):
        c = obj.category()
    elif _inert(obj):
        c = _category(obj)
    else:
        raise _Bail
    if c is None or name not in _SAFE_METHODS.get(c, ()) or not _all_inert(args, kwargs):
        raise _Bail
    return _calls.mcall(obj, name, *args, **kwargs)


def pbop(op, a, b):
    a, b = _settle(a), _settle(b)
    if _inert(a) and _inert(b):
        return bop(op, a, b)
    raise _Bail


def pcop(op, a, b):
    """A comparison that is an item (or part of one), not a truth test."""
    a, b = _settle(a), _settle(b)
    if _inert(a) and _inert(b):
        return cop(op, a, b)
    raise _Bail


def puop(op, a):
    a = _settle(a)
    if _inert(a):
        return uop(op, a)
    raise _Bail


def pattr(obj, name):
    if _pending_trusted(obj) and obj.category() == "nd" and name in _ND_ATTRS:
        return attr(obj, name)  # deferred
    obj = r(obj)
    if type(obj) is not _ModuleType and not _inert(obj) and _runs_code(type(obj), name, False):
        raise _Bail
    return attr(obj, name)


def pitem(obj, index):
    index = rdeep(index)
    if not _inert(index):
        raise _Bail
    if _pending_trusted(obj) and obj.category() in ("nd", "seq", "str", "map"):
        return item(obj, index)  # deferred
    obj = r(obj)
    if _inert(obj) or type(obj) in (list, dict):
        return item(obj, index)
    raise _Bail


def pro(v):
    """An operand or a truth test: its value, which runs no code of the program."""
    v = r(v)
    if _inert(v):
        return v
    raise _Bail


def prdo(v):
    v = rdeep(v)
    if _inert(v):
        return v
    raise _Bail


def pfv(v, conv=-1, spec=""):
    spec = rdeep(spec)
    if _pending_trusted(v) and _inert(spec):
        return fv(v, conv, spec)  # deferred
    v = rdeep(v)
    if _inert(v) and _inert(spec):
        return fv(v, conv, spec)
    raise _Bail


def pit(v):
    """A lowered tuple target's item: unpacked without running code."""
    v = r(v)
    if _safe_iterable(v):
        return it(v)
    raise _Bail


from . import calls as _calls  # noqa: E402  (calls imports this module)
