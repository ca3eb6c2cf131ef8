"""Loops over iterators of the program (generators, map(...), progress-bar
wrappers): the iterator is driver code and runs in program order; a step need
not wait for earlier tasks when that is provably the same as waiting
(docs/python.md "Loops over iterators"). Where it is not, the step waits and
the "pydron" logger says why (once per iterator code)."""

import builtins as _builtins
import dis as _dis
import io as _io
import logging
import types
from operator import index as _index

from .._state import touch as _touch
from .barriers import _fail, _log, _pop_front, barrier, rdeep, sync
from .barriers import r as _r
from .lookahead import _runs_code
from .state import S, _exception, _on_driver, _result
from .state import pending as _pending, tainted as _tainted, translated_codes as _translated_codes
from .state import lazy_codes as _lazy_codes
from .tables import _held, _unseen
from .tables import (_BuiltinType, _DICTS, _IMMUTABLE, _KeySource, _SAFE_ITER, _SCALARS,
                     _safe_iterable)

log = logging.getLogger("pydron")


def _sync_then(v):
    sync()
    return v


def _iter_of(v):
    """iter(v) for a translated loop: behind a barrier when that runs code of the
    program (a user __iter__), but calling a generator function (a generator
    __iter__) runs none of its code yet."""
    t = type(v)
    if t is _GeneratorType or _wrapped.get(id(v)) is v:
        return v
    itf = getattr(t, "__iter__", None)
    if type(itf) is _FunctionType:
        if itf.__code__.co_flags & _CO_GENERATOR:
            return itf(v)
        if _returns_self(itf.__code__) and getattr(t, "__next__", None) is not None:
            return v  # `def __iter__(self): return self` runs nothing to wait for
    return iter(_sync_then(v))


_self_returning = {}


def _returns_self(code):
    r = _self_returning.get(code)
    if r is None:
        ops = [(x.opname, x.argval) for x in _dis.get_instructions(code)
               if x.opname not in ("RESUME", "NOP")]
        r = code.co_argcount == 1 and ops == [("LOAD_FAST", code.co_varnames[0]), ("RETURN_VALUE", None)]
        _self_returning[code] = r
    return r


def _tuple_args(*items):
    return items


def _map_rest(f, items, srcs):
    """A _Map with items given back (its _front), unpickled: f over those
    argument tuples, then over the rest of its sources."""
    import itertools

    return itertools.starmap(f, itertools.chain(items, zip(*srcs)))


class _Map(map):
    """map(f, *iterables) made by translated code. A translated loop (it())
    steps it as a loop body would call f, through call(): a @functional f
    submits its task without waiting. Anyone else iterating it gets values."""

    def __new__(cls, f, *iterables):
        srcs = tuple(_step_source(i) for i in iterables)
        self = map.__new__(cls, _tuple_args, *srcs)
        self._f = f
        self._srcs = iterables
        self._front = None  # items given back (_InOrder.abandon), the next last
        return self

    def __next__(self):
        front = self._front
        items = front.pop() if front else map.__next__(self)
        if _on_driver():
            return rdeep(_calls.call(self._f, *items))
        return self._f(*items)

    def __reduce__(self):
        # Given to a task (`join(map(str, xs))`) or copied: the plain map of f
        # over what is left of its sources. The C map underneath yields the
        # argument tuples __next__ applies f to: pickled as it is, it handed
        # the task those tuples ((1,), (2,), ...) instead of f's values.
        srcs = tuple(map.__reduce__(self)[1][1:])
        front = self._front
        if front:
            return _map_rest, (self._f, tuple(reversed(front)), srcs)
        return map, (self._f,) + srcs

    def _lazy(self, taken=None):
        """The steps as placeholders; each step's items appended to `taken`."""
        f = self._f
        step = _calls.call
        if type(f) is _FunctionType and f.__code__ in _translated_codes \
                and f.__code__ not in _lazy_codes and getattr(f, "__pydron_kind__", None) is None:
            # a lambda of the @schedule body: its translated code waits where
            # it must itself (no barrier around the whole call)
            from .iterwrap import _Guard
            step = _Guard(f)
        while True:
            front = self._front
            if front:
                items = front.pop()
            else:
                try:
                    items = map.__next__(self)
                except StopIteration:
                    return
            if taken is not None:
                taken.append(items)
            yield step(f, *items) if step is _calls.call else step(*items)


class _Steps:
    """enumerate(...)/zip(...) over iterators that a translated loop steps lazily."""


class _LazyEnumerate(enumerate, _Steps):
    """Its count is its own, shared by both ways of stepping it (values, for
    code that is not translated; placeholders, _lazy): `next(e)` and then a
    loop over e go on from where the other left off."""

    def __new__(cls, inner, start=0):
        self = enumerate.__new__(cls, (), start)  # (checks start; its own state unused)
        self._inner, self._n, self._vals = inner, _index(start), _values(inner)
        return self

    def __next__(self):
        v = next(self._vals)
        n = self._n
        self._n = n + 1
        return n, v

    def _lazy(self):
        for v in _lazy_iter(self._inner):
            n = self._n
            self._n = n + 1
            yield n, v


class _LazyZip(zip, _Steps):
    """Over iterators it shares with its lazy steps: a list becomes its
    iterator here (zip makes one anyway), so `next(z)` and then a loop over
    z go on from where the other left off."""

    def __new__(cls, *inner, **kw):
        inner = tuple(x if _steppable(x) else iter(x) for x in inner)
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
    return t is _Map or isinstance(v, _Steps) or t is _GeneratorType or _wrapped.get(id(v)) is v


def _lazy_iter(v):
    """The placeholders-allowed iteration of `v` (for translated loops)."""
    t = type(v)
    if t is _Map or isinstance(v, _Steps):
        return v._lazy()
    if _safe_iterable(v):
        return v
    if t is _GeneratorType:
        w = _twin_walk(v)
        if w is not None:
            return w
    return _guarded(_iter_of(v))


def _twin_walk(gen):
    """A generator expression with a lazy twin, for a translated loop: its
    twin's steps (genexps.walk); None for any other generator."""
    src = _genexps.twin_source(gen)
    if src is None or not _on_driver():
        return None
    return _genexps.walk(gen, src)


def _step_source(v):
    """An iterable map()/zip() steps: itself if that runs no code of the program."""
    if _safe_iterable(v) or type(v) is _Map or isinstance(v, _Steps):
        return v
    return _guarded(_iter_of(v))


_GeneratorType = types.GeneratorType
_FunctionType = types.FunctionType
_CO_GENERATOR = 0x20  # inspect.CO_GENERATOR


def _make_map(args):
    if len(args) < 2:
        return map(*args)  # Python's own error
    if any(isinstance(a, S.Future) for a in args[1:]):
        # map(str, f(x)): a task's result given itself iterates as its value
        args = args[:1] + tuple(map(_r, args[1:]))
    return _Map(*args)


def _guarded(iterator):
    """Step an iterator of the program: without waiting when that is provably the
    same as sequential (_step_ahead), else behind a barrier; a failure of an
    earlier task comes before the iterator's own exception."""
    safe = type(iterator) in _SAFE_ITER or type(iterator) in _FILE_ITERS
    while True:
        if (_pending or _tainted) and _on_driver() and not _step_ahead(iterator):
            sync()
        elif not safe:
            _touch()  # the program's code runs: it may change objects in place
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
    if _wrapped.get(id(iterator)) is iterator:
        return True  # itertools over guarded sources (_wrap_itertools)
    if t is _Map or isinstance(iterator, _Steps):
        return True  # it steps its sources through _guarded itself
    if t is not _GeneratorType:
        return _next_ahead(iterator, t, depth)
    code = iterator.gi_code
    if code in _translated_codes:
        return True
    frame = iterator.gi_frame
    if frame is None:
        return True  # finished: next() raises StopIteration
    if code.co_qualname == "tqdm.__iter__" and frame.f_globals.get("__name__", "").startswith("tqdm"):
        return _progress_bar_ahead(iterator, code, frame, depth)
    static = _gen_code_check(code)
    if static is not None:
        _why(code, lambda: static)
        return False
    why = _gen_state_check(code, frame.f_locals, frame.f_globals, depth,
                           code.co_varnames[0] if code.co_argcount else None)
    if why is not None:
        _why(code, lambda: why, once=False)
        return False
    if code in _STORES_SELF:
        _log_state(iterator, frame.f_locals[code.co_varnames[0]])
    return True


def _next_ahead(iterator, t, depth):
    """An iterator class of the program: its __next__ is checked as a
    generator's code is (it may store attributes of self: logged, undone if
    an earlier task fails)."""
    nxt = getattr(t, "__next__", None)
    if type(nxt) is not _FunctionType or t.__getattribute__ is not object.__getattribute__ \
            or t.__setattr__ is not object.__setattr__:
        _why(t, lambda: f"iterator of type {t.__qualname__} runs code pydron does not see "
                        f"(its __next__)")
        return False
    code = nxt.__code__
    if code in _translated_codes:
        return True
    static = _gen_code_check(code)
    if static is not None:
        _why(code, lambda: static)
        return False
    first = code.co_varnames[0] if code.co_argcount else None
    why = _gen_state_check(code, {first: iterator}, nxt.__globals__, depth, first)
    if why is None and nxt.__closure__:
        why = "its __next__ reads variables of an enclosing function"
    if why is not None:
        _why(code, lambda: why, once=False)
        return False
    if code in _STORES_SELF:
        _log_state(None, iterator)
    return True


def _log_state(gen, obj, closed_with=None):
    """Before a step that may store attributes of `obj`: if a task called
    earlier fails, the generator is closed (as the abandoned loop would close it,
    running its `finally`) and then `obj` gets back its attributes of before
    the step (the undo log runs newest first, so the oldest such step wins)."""
    if not _pending:
        return
    saved = dict(obj.__dict__)

    def undo():
        if gen is not None:
            try:
                gen.close()
            except Exception:
                pass
        obj.__dict__.clear()
        obj.__dict__.update(saved)
        if closed_with:  # what the generator's `finally` would have left at that point
            obj.__dict__.update(closed_with)
    _log(undo)


def _progress_bar_ahead(gen, code, frame, depth):
    """tqdm's own __iter__: it yields the items of its iterable unchanged; its
    effects are the display (time-driven, so never the same twice) and its
    counters, which the undo log restores if an earlier task fails. So it may
    run ahead when its iterable may: the bar then shows the loop's progress in
    adding tasks."""
    bar = frame.f_locals.get("self")
    inner = getattr(bar, "iterable", None) if bar is not None else None
    if bar is None or not hasattr(bar, "__dict__"):
        return False
    if not _plain_value(inner, depth) and not (type(inner) is _GeneratorType and depth < 3
                                                and _step_ahead(inner, depth + 1)):
        _why(code, lambda: f"its iterable is a {type(inner).__qualname__} that must wait", once=False)
        return False
    # tqdm counts in a local `n` that its `finally` writes to bar.n at close
    _log_state(gen, bar, {"n": frame.f_locals["n"]} if "n" in frame.f_locals else None)
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
        log.debug("a loop over %s waits for earlier tasks at each step: %s", where, reason)


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
        if op in ("CALL", "CALL_KW"):  # (CALL_KW: Python 3.13's call with keywords)
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
        return t is not tuple or all(not isinstance(x, S.Future) for x in v)
    if t is list or t in _DICTS or t is set:
        return id(v) not in _tainted
    if t in _SAFE_ITER or t in _FILE_ITERS or _safe_iterable(v):
        return True
    if isinstance(v, S.Future):
        return False
    if t is _Map or isinstance(v, _Steps):
        return True
    if t is _GeneratorType:
        return depth < 3 and _step_ahead(v, depth + 1)
    if t is _BuiltinType and id(v) in _calls._PURE_IDS:
        return True
    return False


def _gen_state_check(code, loc, g, depth, first):
    """Run-time part of _step_ahead: the generator's locals, the attributes of
    its first argument `first` (a method's `self`) and the globals it reads."""
    for k, v in loc.items():
        if k == first and hasattr(v, "__dict__") and type(v).__module__ not in ("builtins", "numpy") \
                and type(v) is not _MODULE:
            t = type(v)
            if t.__setattr__ is not object.__setattr__ or t.__getattribute__ is not object.__getattribute__ \
                    or any(_runs_code(t, n, False) for n in code.co_names if n not in v.__dict__ and
                           hasattr(t, n)) \
                    or any(_runs_code(t, n, True) or _runs_code(t, n, False) for n in v.__dict__):
                return f"its first argument {k!r} is an object whose attributes run code"
            for n, a in v.__dict__.items():
                if not _plain_value(a, depth):
                    return f"{k}.{n} is a {type(a).__qualname__} (may run code or hold a placeholder)"
            continue
        if not _plain_value(v, depth):
            return f"its variable {k!r} is a {type(v).__qualname__} (may run code or hold a placeholder)"
    read, called = _GEN_GLOBALS[code]
    b = g.get("__builtins__", builtins_dict)
    b = b if type(b) is dict else vars(b)
    for n in called:
        f = g.get(n, b.get(n))
        if (id(f) not in _calls._PURE_IDS or f is _iter or f is _next) and not _builtin_exception(f):
            return f"it calls {n}, which is not a builtin without effects"
    for n in read:
        v = g.get(n, b.get(n))
        if n not in g and n in b:
            continue
        if not _plain_value(v, depth):
            return f"it reads the global {n!r}, a {type(v).__qualname__}"
    return None



def _builtin_exception(f):
    """raise StopIteration(), ValueError(...): making a builtin exception runs
    no code of the program."""
    return isinstance(f, type) and issubclass(f, BaseException) and f.__module__ == "builtins"


def _fn_state_check(fn, depth=0):
    """_gen_state_check for a plain function about to be called (a predicate):
    its closure variables, defaults and the globals it reads."""
    code = fn.__code__
    if code not in _GEN_GLOBALS:
        _gen_code_check(code)
    loc = {}
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            loc[name] = cell.cell_contents
        except ValueError:
            pass
    for i, d in enumerate(fn.__defaults__ or ()):
        loc[f"<default {i}>"] = d
    for k, d in (fn.__kwdefaults__ or {}).items():
        loc[k] = d
    return _gen_state_check(code, loc, fn.__globals__, depth, None)


builtins_dict = vars(_builtins)
_iter, _next = iter, next
# Reading a file runs no code of the program and sees no placeholder.
_FILE_ITERS = {_io.TextIOWrapper, _io.BufferedReader, _io.BytesIO, _io.StringIO}


_SHORT_CIRCUIT = {id(any), id(all)}
# any/all over a generator expression take a few steps ahead (False: one item
# at a time, as before them; bench_python compares the two)
_SHORT_AHEAD = True


def _consumed(consumer, it):
    """A lazily stepped iterator given to a builtin that consumes it whole (list,
    sum, sorted, ...): every step is taken first (all tasks submitted), then the
    values are read in order. any/all may stop early: one step at a time."""
    if not _on_driver():
        return it
    if id(consumer) in _SHORT_CIRCUIT:
        if _SHORT_AHEAD and type(it) is _Map and _quiet_steps(it) and _unseen_sources(it):
            return _short_map(it)
        return map(rdeep, it._lazy())
    if consumer is list or consumer is tuple:
        return it._lazy()  # a list of placeholders, as a display would hold
    if consumer is not sorted and not (_quiet_steps(it) and _unseen_sources(it)):
        # sum/min/max/set/dict may raise at step i: a later step's effects
        # (map(g, xs) with g a function of the program) must not come first
        return map(rdeep, it._lazy())
    before = S.last_seq
    taken = [] if type(it) is _Map else None
    S.batching = True  # no failure raised while the steps are taken: the consumer comes first
    try:
        steps = list(it._lazy(taken) if taken is not None else it._lazy())
    finally:
        S.batching = False
    steps = _InOrder(before, steps)
    steps.map = (it, taken) if taken is not None else None
    return steps



def _short_map(m):
    """any/all over a map of a @functional (`any(map(is_transit, curves))`):
    a few steps ahead of the consumer, as for a generator expression
    (_consumed_gen), taken again when it is half way through them. Where it
    stops, the later steps' tasks are forgotten and the map gets their items
    back (_InOrder.abandon)."""
    before = S.last_seq
    taken = []
    steps = _InOrder(before, [], limit=_few_ahead())
    steps.lazy = m._lazy(taken)
    steps.marks = []
    steps.map = (m, taken)
    steps.short = True
    S.horizon = before  # (reset by the caller, calls._h_pure_consumer)
    steps._more()
    return steps


def _few_ahead():
    """Steps taken at a time for any/all: two per worker, four at least."""
    s = S.backend.current() if S.backend is not None else None
    try:
        n = s.nworkers() if s is not None else 1
    except Exception:  # noqa: BLE001 - a runtime being closed: as for one worker
        n = 1
    return max(4, 2 * n)


def _consumed_gen(consumer, gen):
    """A generator expression with a lazy twin (genexps.py) given to a builtin
    that consumes it whole: the twin's steps first (all tasks submitted), then
    the values in order, then the generator itself from the first item the
    twin could not take. Up to a window of steps ahead of the consumer (a
    list or tuple takes them all). any/all may stop early: the generator as
    it is."""
    src = _genexps.twin_source(gen)
    if src is None or not _on_driver():
        return gen
    before = S.last_seq
    whole = consumer is list or consumer is tuple
    if whole:
        limit = None
    elif id(consumer) in _SHORT_CIRCUIT:
        if not _SHORT_AHEAD:
            return gen
        # any/all: where they stop, the steps taken beyond are work done for
        # nothing; a few per worker keep the workers busy
        limit = _few_ahead()
    else:
        limit = S.window
    if not whole:
        src.log, src.marks = [], []  # what the steps take (_InOrder.abandon)
    log, marks = src.log, src.marks
    short = limit is not None and id(consumer) in _SHORT_CIRCUIT
    if short:
        S.horizon = before  # (reset by the caller, calls._h_pure_consumer)
    S.batching = True  # no failure raised while the steps are taken: the consumer comes first
    try:
        steps, rest = _genexps.steps(gen, src, limit, whole)
    finally:
        S.batching = False
    if rest is None and whole:
        return iter(steps)  # a list of placeholders, as a display would hold
    steps = _InOrder(before, steps, rest, gen, src, log, marks, limit)
    steps.short = short
    return steps


_KEYED = {id(f): f for f in (max, min, sorted)}
_KEYED_KW = {id(max): {"default"}, id(min): {"default"}, id(sorted): {"reverse"}}


def kxsrc():
    """The source of a key function's generator expression: its items come later."""
    return _KeySource()


def keyed(f, data, key, gen, /, **kwargs):
    """`max(data, key=lambda p: e)` (min, sorted; _translate/genexps._Keys):
    gen is `(e for p in kxsrc())`, the key's values, with a lazy twin. Its
    steps come first (every key's calls submitted), then the builtin reads
    the values in order, a key per item as it would call the key function,
    and compares them itself: the same comparisons, in the same order, and a
    failing key's exception where its call would have raised (the later
    keys' tasks forgotten). Where the twin cannot take a step, the rest of
    the keys come from the generator expression itself, one item at a time,
    as the key function would compute them. Anything else (not the builtin,
    data that is not a plain sequence, other keywords, off the driver): the
    call as written."""
    src = _genexps.twin_source(gen) if _on_driver() else None
    if src is not None and _KEYED.get(id(f)) is f and _KEYED_KW[id(f)].issuperset(kwargs) \
            and _safe_iterable(_r(data)) and _unseen(_r(data), 1):
        data = rdeep(_r(data))  # as the builtin's argument is resolved (calls._h_pure_consumer)
    else:
        src = None
    if src is None:
        gen.close()
        return _calls.call(f, data, key=key, **kwargs)
    items = list(data)

    def compare(keys):
        pull = keys.__next__
        if f is sorted:
            order = sorted(range(len(items)), key=lambda _: pull(), **kwargs)
            return [items[i] for i in order]
        if "default" in kwargs:
            i = f(range(len(items)), key=lambda _: pull(), default=keys)
            return kwargs["default"] if i is keys else items[i]
        return items[f(range(len(items)), key=lambda _: pull())]

    return _by_keys(gen, src, items, compare)


def _by_keys(gen, src, items, compare):
    """keyed and keyed_sort: the steps of gen's twin over `items` first (every
    key's calls submitted), then compare(keys), which reads the key values
    in order from keys (an _InOrder); where it raises, an earlier task's
    failure comes first and the later keys' tasks are forgotten."""
    src._it.items = items  # (the _GxSource's iterator is the _KeySource)
    before = S.last_seq
    S.batching = True  # no failure raised while the steps are taken: the consumer comes first
    try:
        steps, rest = _genexps.steps(gen, src, S.window)
    finally:
        S.batching = False
    keys = _InOrder(before, steps, rest, gen)
    try:
        return compare(keys)
    except BaseException:
        _wait_upto(keys.before)  # an earlier task's failure comes first
        keys.abandon()
        raise


_SORT_KEYED = True  # (benchmarks/bench_python.py switches it off for its baseline)


def keyed_sort(obj, key, gen, /, **kwargs):
    """`lst.sort(key=lambda p: e)` (_translate/genexps._Keys): list.sort calls
    the key once per item, in order, before it compares two, and leaves the
    list as it was when a key raises. So, as for sorted (keyed): the items
    resolved in place, every key's calls submitted (the twin's steps), then
    the list sorts itself by the keys read in order - the same comparisons,
    a failing key's exception where its call would have raised. Anything
    else (not a list, other keywords, off the driver): the call as written."""
    src = _genexps.twin_source(gen) if _on_driver() and _SORT_KEYED else None
    if src is None or type(obj) is not list or not {"reverse"}.issuperset(kwargs):
        gen.close()
        return _calls.mcall(obj, "sort", key=key, **kwargs)
    rdeep(obj)  # the items the key reads, in place (as a call of unknown code does)
    return _by_keys(gen, src, list(obj),
                    lambda keys: obj.sort(key=lambda _: next(keys), **kwargs))


def _unseen_sources(it):
    """tables._unseen for what `it` (a _Map, enumerate or zip made by
    translated code) steps: a map over an iterator the program holds
    (`sum(map(f, lines))` after `next(lines)`) is stepped one item at a time
    where the consumer may stop early, so that the program finds the iterator
    where the sequential one would. (A map the program holds gets back the
    items it was not asked for: _InOrder.abandon.)"""
    t = type(it)
    # a source's references beside the local v: the tuple it is in and the C
    # object's own (map, zip: a tuple of iterators; enumerate: its iterator;
    # an iterator's iterator is itself); for enumerate, a new tuple
    if t is _Map:
        srcs, held = it._srcs, 3
    elif t is _LazyEnumerate:
        srcs, held = (it._inner,), 4
    else:
        srcs, held = it._inner, 3
    for k in range(len(srcs)):
        v = srcs[k]
        if type(v) is _Map or isinstance(v, _Steps):
            if _held(v, held) or not _unseen_sources(v):
                return False
        elif not _unseen(v, held):
            return False
    return True


def _quiet_steps(it):
    """Does taking the steps of `it` (a _Map, enumerate or zip made by
    translated code) run nothing but tasks (no code of the program with
    effects)? sorted, list and tuple take every step before they look at
    any; the other consumers may stop at a step that raises."""
    if type(it) is _Map:
        f = it._f
        fn = f.__func__ if type(f) is types.MethodType else f
        if type(fn) is not _FunctionType or getattr(fn, "__pydron_kind__", None) != "functional":
            return False
        srcs = it._srcs
    elif type(it) is _LazyEnumerate:
        srcs = (it._inner,)
    elif type(it) is _LazyZip:
        srcs = it._inner
    else:
        return False
    for v in srcs:
        if _safe_iterable(v):
            continue
        if type(v) is _Map or isinstance(v, _Steps):
            if not _quiet_steps(v):
                return False
        elif not _step_ahead(v):
            return False
    return True


def _same_failure(e, first):
    """e, raised while `first` was handled, is the same task failure again (a
    barrier decodes it anew): `first` is raised, once."""
    return e is first or (type(e) is type(first) and e.args == first.args)


class _InOrder:
    """The values of steps already taken, read in program order: the consumer
    sits between step i and step i + 1, so a later step's failure must not be
    raised while it reads step i (no _poll here). Then, if any, the rest of the
    iterator, one item at a time; or (rest is a genexps._GxSource) more steps
    of its twin, taken when the consumer is half way through these."""

    def __init__(self, before, steps, rest=None, gen=None, src=None, log=None, marks=None,
                 limit=None):
        self.before = before  # program-order number of the last task before the steps
        self.steps = steps
        self.rest = rest
        self.gen = gen
        self.limit = limit or S.window  # steps taken at a time
        self.i = 0
        self.ended = False  # StopIteration raised
        self.short = False  # any/all: S.horizon follows the step read
        # what the steps took, given back where the consumer stops early: a
        # generator expression's source (genexps._GxSource) and what its
        # twin's steps took from it (src.log, up to src.marks[k] for step k)
        self.src, self.log, self.marks = src, log, marks
        self.map = None  # (a _Map, each step's items)
        self.lazy = None  # a map's steps (_Map._lazy) not taken yet (_short_map)

    def _more(self):
        if self.lazy is not None:
            self._more_of_map()
            return
        if self.log is not None and self.i:
            # what the steps taken so far took, the consumer has
            m, self.before = self.marks[self.i - 1]
            del self.log[:m]
            self.marks[:] = [(k - m, q) for k, q in self.marks[self.i:]]
        S.batching = True
        try:
            more, self.rest = _genexps.steps(self.gen, self.rest, self.limit, False)
        finally:
            S.batching = False
        self.steps = self.steps[self.i:] + more
        self.i = 0

    def _more_of_map(self):
        """Up to `limit` more steps of the map (marks: S.last_seq after each)."""
        i, marks = self.i, self.marks
        if i:
            self.before = marks[i - 1][1]
            del marks[:i]
            del self.map[1][:i]  # (the items of the steps the consumer has)
        more = []
        S.batching = True
        try:
            while len(more) < self.limit:
                try:
                    x = next(self.lazy)
                except StopIteration:
                    self.lazy = None
                    break
                more.append(x)
                marks.append((0, S.last_seq))
        finally:
            S.batching = False
        self.steps = self.steps[i:] + more
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        if (type(self.rest) is _genexps._GxSource or self.lazy is not None) \
                and self.i * 2 >= len(self.steps):
            self._more()
        if self.i >= len(self.steps):
            if self.short:
                S.horizon = None  # past the steps: read as they come
            if self.rest is not None:
                v = next(self.rest)
                self.i += 1  # (past the steps: abandon gives nothing back)
                return v
            if self.gen is not None:
                self.gen.close()  # consumed, as the sequential program leaves it
            self.ended = True
            raise StopIteration
        x = self.steps[self.i]
        if self.short:
            S.horizon = self.marks[self.i][1]  # the tasks up to this step's
        try:
            # a task's value, a deferred operation's (f(x) > t), or a value
            # holding placeholders ((x, f(x)))
            v = _result(x) if type(x) is S.Future else rdeep(x)
        except KeyboardInterrupt:
            raise
        except BaseException as first:
            # the step raised, as the generator expression's item would
            try:
                _wait_upto(self.before)  # an earlier task's failure comes first
                self.i += 1
                marks = self.marks
                end = marks[self.i - 1][1] if marks is not None and self.i <= len(marks) else None
                self.abandon(True)
                # raised as a barrier raises it, once: where the program
                # catches it (even in code that is not translated) it is handled
                if end is not None:
                    _wait_upto(end)  # the step's own tasks and operations
                else:
                    for seq, fut in _pending:
                        if fut is x:
                            _fail(seq, x)
            except BaseException as e:
                if not _same_failure(e, first):
                    e.__suppress_context__ = True  # that one alone, as sequential code raises it
                    raise
            raise
        self.i += 1
        return v

    def abandon(self, raised=False):
        """The consumer stopped at step i: sequential code never took the later
        steps, so their tasks are forgotten (no failure of theirs is raised),
        and the generator expression or map (the program may hold it and go
        on with it) gets back the items they took: its next item is the one
        after step i's, as in the sequential program. Unless step i's value
        raised (`raised`): a generator expression that raises is finished."""
        i = self.i
        marks = self.marks
        if marks is not None and i <= len(marks):
            # everything the later steps submitted: their tasks and the
            # deferred operations on them (f(x) > t), not only their values
            cut = marks[i - 1][1] if i else self.before
            if _pending and _pending[-1][0] > cut:
                kept = [e for e in _pending if e[0] <= cut]
                _pending.clear()
                _pending.extend(kept)
        else:
            later = {id(x) for x in self.steps[i:] if isinstance(x, S.Future)}
            if later:
                kept = [e for e in _pending if id(e[1]) not in later]
                _pending.clear()
                _pending.extend(kept)
        if self.map is not None:
            m, taken = self.map
            self.map = None
            if i < len(taken):
                m._front = taken[i:][::-1]  # the next one last
        src = self.src
        if src is not None:
            self.src = None
            _genexps.give_back(src, self.log, self.marks, i)
            if raised:
                self.gen.close()


def _consume(f, args, kwargs):
    try:
        r = f(*args, **kwargs)
    except BaseException:
        for a in args:
            if type(a) is _InOrder:
                _wait_upto(a.before)  # an earlier task's failure comes first
                a.abandon()
        raise
    for a in args:
        if type(a) is _InOrder and not a.ended:
            a.abandon()  # any/all returned before the end
    return r


def _wait_upto(upto):
    """Raise the first failure of the tasks up to `upto` (program order), and no
    later one (unlike _drain_to, which then polls)."""
    while _pending and _pending[0][0] <= upto:
        seq, fut = _pending[0]
        if _exception(fut) is None:
            _pop_front()
            continue
        _fail(seq, fut)


from . import calls as _calls  # noqa: E402  (calls imports this module)
from . import genexps as _genexps  # noqa: E402


# itertools objects made by translated code over iterators of the program
# (iterwrap): their sources are stepped through _guarded, so stepping them
# needs no barrier of its own (id -> object; forgotten when the outermost
# @schedule call ends).
_wrapped = {}
