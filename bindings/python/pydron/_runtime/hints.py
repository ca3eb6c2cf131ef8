"""Hints: the line that made a loop run its tasks one at a time.

The first thing a new user looks at is the speed-up. When a loop's tasks run
one after another, the cause is nearly always one line of the loop that needs
a task's result before the next call is made: a call of code pydron does not
know (`np.save(path, img)`, a plotting call, a function of the program that
is not `@functional`: everything before it runs first), or a test of a
result (`if flux(img) > limit:`). Nothing in the output says which line.

So the driver notes each time it waits for a task while no other task is
running (the workers idle, but for that one task): the line of the program
where it waits, how long, and whether a call of unknown code made it wait.
When the outermost `@schedule` call returns, a line that did so at least
MIN_WAITS times, for at least MIN_SECONDS in all and MIN_SHARE of the call's
time, on an executor with more than one worker, gets one `SerialWarning`
(once per line per process), shown
at that line like any Python warning (so `warnings` filters and `-W` apply).
PYDRON_HINTS=0 turns the notes off.

A wait with other tasks running (the end of a parallel loop, a full window)
is not noted: only a wait that kept the other workers idle. A loop whose
tasks really depend on each other (`x = step(x)` with a test of `x`) gets
the hint too: it is still the line that orders them.
"""

import linecache
import os
import time
import warnings

from .errors import call_site
from .state import S, pending as _pending

ON = os.environ.get("PYDRON_HINTS", "1") != "0"
MIN_WAITS = 4
MIN_SECONDS = 1.0   # and a quarter of the call's time: a short run is not worth a hint
MIN_SHARE = 0.25
# Pending entries looked at for another running task; past it, some surely run.
_SCAN = 64

_sites = {}      # (filename, lineno) -> [waits, seconds, unknown callee or None]
_warned = set()  # sites warned about, for the life of the process
reason = None    # the unknown callee whose barrier is being waited for (barriers._unknown)
_started = None  # when the outermost @schedule call started


class SerialWarning(UserWarning):
    """A line of a @schedule function made a loop run its tasks one at a time."""


def started():
    global _started
    _started = time.monotonic()


def _alone(fut):
    """Is fut the only task of the pending queue not finished?"""
    if len(_pending) > _SCAN:
        return False
    Future = S.Future
    for _, f in _pending:
        if f is not fut and type(f) is Future and not f.done():
            return False
    return True


def _site():
    """The line of the program (the nearest frame outside pydron) that waits."""
    site = call_site()
    return None if site is None else (site[1].co_filename, site[3])


def waited(fn, fut):
    """fn(fut), a wait for fut (a task not finished yet), noted if no other
    task runs meanwhile."""
    site = _site() if _alone(fut) else None
    if site is None:
        return fn(fut)
    t0 = time.monotonic()
    try:
        return fn(fut)
    finally:
        s = _sites.get(site)
        if s is None:
            s = _sites[site] = [0, 0.0, None]
        s[0] += 1
        s[1] += time.monotonic() - t0
        if reason is not None:
            s[2] = reason


def _name(f):
    mod = getattr(f, "__module__", None)
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None)
    if name is None:
        return type(f).__name__
    if mod and mod not in ("builtins", "__main__"):
        return f"{mod.split('.')[0]}.{name}"
    return name


def report(workers):
    """At the return of the outermost @schedule call: warn about its lines
    that kept the workers idle (workers: the executor's; 0: forget them)."""
    sites = dict(_sites)
    _sites.clear()
    if not ON or workers < 2 or not sites or _started is None:
        return
    total = time.monotonic() - _started
    for (filename, lineno), (n, secs, callee) in sites.items():
        if n < MIN_WAITS or secs < MIN_SECONDS or secs < MIN_SHARE * total \
                or (filename, lineno) in _warned:
            continue
        _warned.add((filename, lineno))
        text = linecache.getline(filename, lineno).strip()
        if callee is not None:
            why = (f"`{_name(callee)}` is not @functional and pydron does not know it, so "
                   f"every task called before it finishes first.")
        else:
            why = "It needs the result of a task called just before it."
        msg = (f"the tasks of this loop ran one at a time: {n} times the program waited "
               f"here for a task's result while no other task ran ({secs:.2f} s of the "
               f"call's {total:.2f} s){': ' + text if text else ''}. {why} To run them in "
               f"parallel, keep the results (in a list, a dict or an array) and do this "
               f"after the loop, or do it inside the @functional function. "
               f"(PYDRON_HINTS=0: no such hints)")
        warnings.warn_explicit(msg, SerialWarning, filename, lineno)
