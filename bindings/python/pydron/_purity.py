"""Warnings for mistakes that make a "pure" function impure.

* One random generator (``np.random.Generator``, ``np.random.RandomState``,
  ``random.Random``) handed to several tasks: each task gets a copy of the
  same state, so their "random" draws are equal. Always detected at the call
  (the generator's identity and state), one warning per (function, argument).
* A task that changes its argument: the caller never sees the change (the
  task has a copy). Detected in check mode (``PYDRON_CHECK=1``): the worker
  compares each argument's pickle before and after the task; one warning per
  (function, argument).

Both are ``PurityWarning`` (a ``UserWarning``: shown with the default filters).
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings


class PurityWarning(UserWarning):
    """A @functional function is used in a way that is not pure."""


def check_mode() -> bool:
    return os.environ.get("PYDRON_CHECK", "") not in ("", "0")


_warned: set = set()


def warn_once(key, message):
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(PurityWarning(message), stacklevel=_stacklevel())


def _stacklevel():
    """Blame the first frame outside pydron (the program's call site)."""
    f, n = sys._getframe(2), 2
    while f is not None and (f.f_globals.get("__name__") or "").startswith("pydron"):
        f, n = f.f_back, n + 1
    return n


def fn_name(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def param_name(fn, i):
    try:
        import inspect

        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    return params[i] if i < len(params) else f"#{i}"


# -- random generators ----------------------------------------------------------

_rng_types: frozenset = frozenset()
_rng_np = None


def rng_types() -> frozenset:
    global _rng_types, _rng_np
    np = sys.modules.get("numpy")
    if np is not _rng_np or not _rng_types:
        import random

        t = {random.Random}
        if np is not None:
            t |= {np.random.Generator, np.random.RandomState}
        _rng_types, _rng_np = frozenset(t), np
    return _rng_types


def rng_state(rng):
    try:
        st = rng.getstate() if hasattr(rng, "getstate") else (
            rng.bit_generator.state if hasattr(rng, "bit_generator") else rng.get_state())
        return pickle.dumps(st, 5)
    except Exception:  # noqa: BLE001 - unknown kind: identity only
        return b""


# In the pickle of a call's arguments: a generator somewhere inside (the check
# costs one search of the pickle; the arguments are walked only on a hit).
RNG_MARK = __import__("re").compile(rb"numpy\.random\._pickle|\x8c\x06random\x94")


def find_generators(args, kwargs, fn):
    """(generator, where) for every generator inside the arguments (lists,
    tuples, dicts, sets, object attributes, a few levels deep)."""
    rt = rng_types()
    out = []
    seen = set()

    def walk(v, where, depth):
        if type(v) in rt or isinstance(v, tuple(rt)):
            out.append((v, where))
            return
        if depth > 4 or id(v) in seen:
            return
        seen.add(id(v))
        t = type(v)
        if t in (list, tuple, set, frozenset):
            for i, x in enumerate(list(v)[:1000]):
                walk(x, f"{where}[{i}]" if t in (list, tuple) else where, depth + 1)
        elif t is dict:
            for k, x in list(v.items())[:1000]:
                walk(x, f"{where}[{k!r}]", depth + 1)
        else:
            d = getattr(v, "__dict__", None)
            if type(d) is dict:
                for k, x in list(d.items())[:1000]:
                    walk(x, f"{where}.{k}", depth + 1)

    for i, a in enumerate(args):
        walk(a, param_name(fn, i), 0)
    for k, a in kwargs.items():
        walk(a, k, 0)
    return out


_given: dict = {}  # id(generator) -> (state, function name, argument name)
_GIVEN_MAX = 100_000


def rng_argument(fn, rng, where):
    """A generator passed to a task: warn when the same generator, in the same
    state, was already given to a task (that task got the same copy)."""
    st = rng_state(rng)
    prev = _given.get(id(rng))
    arg = where
    name = fn_name(fn)
    if prev is not None and prev[0] == st:
        first = f"{prev[1]}() argument '{prev[2]}'"
        warn_once(("rng", name, arg),
                  f"the random generator passed to {name}() as '{arg}' was already given to "
                  f"a task ({first}) in the same state: each task gets a copy of it, so "
                  "their draws are the same. Give each task its own generator "
                  "(rng.spawn(n), SeedSequence.spawn) or a seed.")
    if len(_given) >= _GIVEN_MAX:
        _given.clear()
    _given[id(rng)] = (st, name, arg)


def rng_global(fn, names):
    """fn reads generators among its globals: every task gets the same copy."""
    name = fn_name(fn)
    for g in names:
        warn_once(("rng-global", name, g),
                  f"{name}() reads the random generator '{g}' (a global): tasks draw from "
                  "copies of it (one per worker), so draws repeat and depend on where the "
                  "tasks run. Pass each task its own generator (rng.spawn(n)) or a seed.")


def rng_module_state(fn, names):
    """fn draws from the module-level random state (random.random(),
    np.random.rand()): each worker process has its own, which the program's
    random.seed()/np.random.seed() does not reach."""
    name = fn_name(fn)
    for g in sorted(set(names)):
        warn_once(("rng-module", name, g),
                  f"{name}() calls {g}(), which draws from the random state of the process "
                  "running the task: each worker has its own, not seeded by the program, so "
                  "results differ from run to run and from the sequential program. Pass "
                  "each task a generator (np.random.default_rng(seed).spawn(n)) or a seed.")


# -- argument mutation (check mode) ---------------------------------------------

def _dump(v):
    try:
        return pickle.dumps(v, 5)
    except Exception:  # noqa: BLE001
        try:
            import cloudpickle

            return cloudpickle.dumps(v, 5)
        except Exception:  # noqa: BLE001 - cannot compare it
            return None


def before(args, kwargs):
    return [_dump(a) for a in args], {k: _dump(v) for k, v in kwargs.items()}


def mutated(fn, snap, args, kwargs):
    """Messages for the arguments the task changed (worker side)."""
    pos, kw = snap
    out = []
    name = fn_name(getattr(fn, "__wrapped__", fn))
    for i, (b, a) in enumerate(zip(pos, args)):
        if b is not None and _dump(a) != b:
            out.append((name, param_name(getattr(fn, "__wrapped__", fn), i)))
    for k, b in kw.items():
        if b is not None and _dump(kwargs[k]) != b:
            out.append((name, k))
    return out


def report_mutations(notes):
    """Driver: warnings for what check mode found in a task."""
    for name, arg in notes:
        warn_once(("mut", name, arg),
                  f"{name}() changed its argument '{arg}': the caller does not see the "
                  "change (the task has a copy), unlike a plain call. Return the new value "
                  "instead, or copy the argument first.")
