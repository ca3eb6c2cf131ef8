"""Stores of results into a numpy array that nothing else can see: deferred.

`out[i] = f(i)` in a loop, with `out = np.empty(n)`, would make the driver
wait for each result before the next call is made: a store into anything but
a list or dict resolves its value. Instead, such a store becomes a deferred
operation (lookahead.Lazy) queued in program order with the tasks; it runs
once everything before it has finished, so the array takes its values in
the sequential order, and a failure (the result's shape, a task's exception)
is raised where the sequential program raises it. Stores after an earlier
failure never run, as in the sequential program.

Deferring a store is sound only while no code can read the array before the
store has run. That is checked twice:

- by the translator (_translate/npstores.py): inside the loop, the array's
  name is used only as the target of item stores, it is a plain local of
  the @schedule function (no closure, `global` or `nonlocal` reaches it),
  the loop is in no try/with statement, and `npflush(name)` follows the loop
  (after it, the array has every value it was given);
- here, at every store: the array is an exact `numpy.ndarray` that owns its
  memory, holds no Python objects, and no reference to it exists but the
  function's local variable (a view, a container, a task's argument, a
  closure would each hold one: `sys.getrefcount`, against the count measured
  on a probe made the way translated code makes the call), nor a weak one
  (a `weakref.proxy` reads it without holding it).

In-place operators (`acc += f(i)`, npaug, npget/npaugset), rebindings by an
operator (`acc = acc + f(i)`, npbop) and by a numpy function that makes a new
array (`best = np.maximum(best, f(i))`, `acc = np.vstack([acc, f(i)])`,
npcall) are deferred under the same checks. Anything else is an ordinary
store (stores.setitem), after the deferred stores queued before it. PYDRON_NPSTORE=0 switches the deferral off.
"""

import os
import sys
from weakref import getweakrefcount as _getweakrefcount

from .barriers import _drain_to, rdeep
from .._backend import RESULT_CATS, _Batch
from .calls import call
from .lookahead import _BOPS, _capture, _defer, _scan, bop, item
from .state import S, _on_driver
from .state import npdirty as _dirty, pending as _pending
from .stores import _AUG, _aug_later, aug, setitem

_getrefcount = sys.getrefcount
_gettrace = sys.gettrace   # a tracer may hold a frame's locals: counts differ
_np = None          # numpy, once an array was seen
_base = None        # references to a local array at a store, nobody else holding it
_ON = os.environ.get("PYDRON_NPSTORE", "1") != "0" and (3, 11) <= sys.version_info[:2] <= (3, 13)


class _Held:
    """The array of one loop's deferred stores: how many are queued, the
    program-order number of the last. Its queued stores hold this, not the
    array: the array's reference count is then one more, whatever their
    number."""

    __slots__ = ("obj", "n", "last")

    def __init__(self, obj):
        self.obj, self.n, self.last = obj, 0, 0


def nprefs(obj, key, value):
    """The probe's call (same shape as npstore's): the reference count."""
    return _getrefcount(obj)


def _calibrate():
    """How many references a store made by translated code sees on an array
    only the function's local variable holds: measured on a probe compiled
    the way the translator emits `__pydron__.npstore(name, key, value)` (the
    runtime reached through a free variable, the array a local)."""
    src = ("def _outer():\n"
           "    __pydron__ = None\n"
           "    def probe(make):\n"
           "        a = make()\n"
           "        return __pydron__.nprefs(a, 0, 0)\n"
           "    return probe\n")
    ns = {}
    exec(compile(src, "<pydron npstore probe>", "exec"), ns)
    probe = ns["_outer"]()
    probe.__closure__[0].cell_contents = sys.modules[__package__]
    counts = {probe(lambda: _np.empty(1)) for _ in range(3)}
    return counts.pop() if len(counts) == 1 else -1   # not steady: never defer


def _plain_key(k):
    """Indexing with k runs no code of the program: ints, slices of ints,
    `...`, None, or a tuple of those."""
    return all(map(_plain_key1, k)) if type(k) is tuple else _plain_key1(k)


def _plain_key1(k):
    t = type(k)
    return t is int or (t is slice and _plain_slice(k)) or k is Ellipsis or k is None \
        or isinstance(k, _np.integer)


def _plain_slice(s):
    return all(type(p) is int or p is None for p in (s.start, s.stop, s.step))


def _ran(h):
    """One of h's queued operations ran (or failed): the last one forgets h."""
    h.n -= 1
    if h.n == 0 and _dirty.get(id(h.obj)) is h:
        del _dirty[id(h.obj)]


def _store_op(h, key, value):
    try:
        h.obj[key] = value
    finally:
        _ran(h)


def _aug_op(h, op, value):
    try:
        _AUG[op](h.obj, value)   # an array's in-place operators return it
    finally:
        _ran(h)


def _augitem_op(h, key, op, value):
    try:
        a = h.obj
        a[key] = _AUG[op](a[key], value)   # as Python runs a[key] op= value
    finally:
        _ran(h)


def _baseline():
    """The reference count of an array only the caller's variable holds, at
    a call of translated code (measured once numpy is loaded)."""
    global _np, _base
    if _base is None:
        _np = sys.modules["numpy"]
        _base = _calibrate()
    return _base


def _fits_array(obj, refs):
    """May a store or in-place operator into obj be deferred (the checks
    above but the value's; refs: obj's reference count at the call)?"""
    if not (_ON and type(obj).__name__ == "ndarray" and _on_driver() and _gettrace() is None):
        return False
    base = _baseline()
    return type(obj) is _np.ndarray and refs == base + (id(obj) in _dirty) \
        and not _getweakrefcount(obj) and obj.base is None and obj.flags.writeable \
        and not obj.dtype.hasobject


def _fits(obj, refs, value):
    """Tasks run, _fits_array, and value may be read later (captured)."""
    return _pending and _fits_array(obj, refs) and _capture(value) >= 0


def _queue(obj, op, *args):
    """op(held, *args) deferred, in program order with the tasks."""
    h = _dirty.get(id(obj))
    if h is None:
        h = _dirty[id(obj)] = _Held(obj)
    lz = _defer(op, (h, *args), None, ("s",), "none")
    h.n += 1
    h.last = lz.seq


def npstore(obj, key, value):
    """`obj[key] = value` in a loop the translator found fit (above)."""
    refs = _getrefcount(obj)   # first: nothing else here may hold obj yet
    if _fits(obj, refs, value) and _plain_key(key):
        _queue(obj, _store_op, key, value)
        return
    setitem(obj, key, value)   # (a barrier first: the deferred stores run before it)


def npaug(obj, op, value):
    """`obj op= value` in a loop the translator found fit (above): for an
    array, the operator in place, deferred as a store is; returns what the
    name is bound to."""
    refs = _getrefcount(obj)   # first, as npstore's
    if _fits(obj, refs, value):
        _queue(obj, _aug_op, op, value)
        return obj
    if type(obj) is S.Future and _alone(obj, refs) and _capture(value) >= 0:
        # `acc = f(first)` before the loop: the operator on the task's array,
        # deferred (the name is rebound to its placeholder, and later ones
        # are ordinary deferred operators)
        return _aug_later(op, obj, value)
    npflush(obj)   # its deferred stores and operators run first
    return aug(op, obj, value)


def _alone(fut, refs):
    """Is fut a task's array nothing but the caller's variable holds (its
    entry in the pending queue aside, and in the batch of calls being filled
    that will send it), never handed to driver code?"""
    return _pending and _ON and _on_driver() and _gettrace() is None and fut.category() == "nd" \
        and not fut._x and fut._a is None and fut._l is None and _capture(fut) >= 0 \
        and refs == _baseline() + 1 + (type(fut._b) is _Batch) \
        and any(f is fut for _, f in _pending)


def npbop(obj, op, value):
    """`obj = obj op value` in a loop the translator found fit: with obj an
    array nobody else holds and value a placeholder, deferred as if obj were
    one too (nothing can change it before the operation runs: the name is
    rebound to the operation's placeholder, and no other reference exists);
    else bop()."""
    refs = _getrefcount(obj)   # first, as npstore's
    if isinstance(value, S.Future) and _fits(obj, refs, value) and _capture(value) == 1:
        key = ("b", op)
        return _defer(_BOPS[op], (obj, value), None, key, RESULT_CATS.get(key))
    return bop(op, obj, value)


# `name = f(name, value)` / `f([name, value])`: numpy functions that return a
# new array and keep no reference to their arguments (no `out=`: the
# translator takes only constant keyword arguments and none named `out`)
_NP_CALLS = """
    maximum minimum fmax fmin add subtract multiply divide true_divide logaddexp hypot
    logical_and logical_or bitwise_and bitwise_or append concatenate vstack hstack stack
    dstack column_stack
""".split()
_calls = None   # id(function) -> (function, name), once numpy is loaded
_seq_ops = {}


def _npcalls():
    global _calls
    if _calls is None:
        np = sys.modules["numpy"]
        _calls = {id(f): (f, n) for n in _NP_CALLS for f in [getattr(np, n, None)] if f is not None}
    return _calls


def _seq_op(f, kind):
    """f(kind(items), **kw) as a deferred operation of the items."""
    op = _seq_ops.get((f, kind))
    if op is None:
        def op(*items, **kw):
            return f(kind(items), **kw)
        _seq_ops[(f, kind)] = op
    return op


def npcall(obj, f, form, /, *rest, **kw):
    """`obj = f(obj, *rest)` (form 0), `f([obj, *rest])` (1) or `f((obj,
    *rest))` (2) in a loop the translator found fit: with f one of the numpy
    functions above, obj an array nobody else holds (or, in a list or tuple,
    a placeholder) and a placeholder among the rest, deferred as npbop
    defers (the name is rebound to the call's placeholder); else the call."""
    refs = _getrefcount(obj)   # first, as npstore's
    if _pending and _ON and "numpy" in sys.modules:
        known = _npcalls().get(id(f))
        if known is not None and known[0] is f and _scan(rest, kw) == 1 \
                and (_fits_array(obj, refs) or (form and _on_driver() and _capture(obj) == 1)):
            key = ("c", known[1])
            op = _seq_op(f, list if form == 1 else tuple) if form else f
            return _defer(op, (obj, *rest), kw or None, key, RESULT_CATS.get(key))
    npflush(obj)   # its deferred stores and operators run first
    if form == 0:
        return call(f, obj, *rest, **kw)
    return call(f, [obj, *rest] if form == 1 else (obj, *rest), **kw)


class _Later:
    """npget's answer when `obj[key] op= value` may be deferred: the item is
    read when the operator runs."""
    __slots__ = ()

    def __repr__(self):
        return "<pydron: item read later>"


_LATER = _Later()


def npget(obj, key, op):
    """The read of `obj[key] op= value` in a loop the translator found fit:
    _LATER if the operator may be deferred (checked before the value is
    computed, where Python reads the item; the value's own task may be the
    first to run), else the item."""
    refs = _getrefcount(obj)   # first, as npstore's
    if _fits_array(obj, refs) and _plain_key(key):
        obj[key]   # an index out of range raises here, before the value, as in Python
        return _LATER
    npflush(obj)   # its deferred stores and operators run first
    return item(obj, rdeep(key))


def npaugset(obj, key, op, got, value):
    """The rest of `obj[key] op= value` (got: npget's answer): deferred, the
    item read, changed and stored when its turn comes; else as translated
    code does it."""
    if got is _LATER:
        if _pending and _capture(value) >= 0:
            _queue(obj, _augitem_op, key, op, value)
            return
        npflush(obj)
        got = obj[key]   # an array of ints/slices: runs no code of the program
    setitem(obj, key, aug(op, got, value))


def npflush(obj):
    """After the loop: the deferred stores into obj run (and raise, in
    program order) before the program looks at it again."""
    h = _dirty.get(id(obj))
    if h is not None and h.obj is obj:
        _drain_to(h.last)
