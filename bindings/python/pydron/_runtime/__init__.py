"""What translated @schedule code calls (reached through the global `__pydron__`).

The translated body runs on the driver thread in program order and builds the
graph as it goes: a @functional call submits a task and returns its Future (a
placeholder) at once; the placeholder is resolved only where Python would look at
the value. Everything else that may observe or cause effects waits behind a
*barrier* (all tasks submitted so far, in submission order = program order).

State is per driver (`state.S` and the containers of `state`): the driver is one
thread. The modules, each with one job:

| module | job |
|---|---|
| `state` | the driver state object, the pending queue, undo log, tainted containers; calls into the backend |
| `tables` | which types and builtins run no code of the program |
| `barriers` | resolution, barriers, failures and undo, unknown code behind a barrier |
| `trybody` | try bodies that run in parallel: the log of local stores |
| `lookahead` | deferred driver operations (print, reading methods, operators, f-strings) |
| `stores` | iteration, item/attribute/global stores, placeholder-aware list and dict methods |
| `calls` | call()/mcall()/ecall(), @schedule entries, nested defs |
| `errors` | tracebacks without pydron's frames |
| `escapes` | what the program sees of its frame and of the functions it made (locals(), closures, `*` calls, callers' frames) |
| `iterators` | loops over generators, map(...), wrappers: stepped ahead where provably the same |
| `iterwrap` | itertools objects over the program's iterators: sources stepped through `iterators` |
| `genexps` | generator expressions consumed whole by a builtin: a lazy twin's steps first |
| `npstores` | stores of results into a numpy array nothing else can see, in a loop: deferred |
| `hints` | the line that made a loop run its tasks one at a time: a `SerialWarning` |
| `logcalls` | logging calls while tasks are pending: queued in program order, as print |

This module exports the helpers the translator emits (`__pydron__.<name>`).
"""

from .barriers import r, rdeep, rdo, ro, sync, barrier
from .errors import caught, hide_internal
from .calls import (ecall, enter_nested, leave, nested_error, run_lazy, run_strict)
from .calls import fast_call as call, fast_mcall as mcall  # C, falling back to calls.call/mcall
from .escapes import closure, deco, dir_, edeco, estar, eval_, exec_, locals_, mstar, star
from .lookahead import attr, bop, eattr, fjoin, fv, item, rsub, uop
from .state import register, session
from .state import pending as _pending
from .stores import (aug, delattr_, delitem, gstore, it, ostore, raise_recursion_limit, setattr_,
                     setitem, slice_, unpack)
from .trybody import UNBOUND, lsave, try_enter, try_exit, try_fail
from .npstores import npaug, npaugset, npbop, npcall, npflush, npget, nprefs, npstore
from .iterators import keyed, keyed_sort, kxsrc
from .genexps import (gx, gxlast, gxsrc, nest, nref, pattr, pbop, pcall, pcop, pfv, pit, pitem, pmcall, prdo,
                      pro, puop)

__all__ = [
    "r", "rdeep", "rdo", "ro", "sync", "barrier", "call", "ecall", "enter_nested", "leave",
    "mcall", "nested_error", "run_lazy", "run_strict", "attr", "bop", "eattr", "fjoin", "fv", "item",
    "rsub", "uop",
    "session", "aug", "delattr_", "delitem", "gstore", "it", "ostore", "raise_recursion_limit",
    "setattr_", "setitem", "slice_", "UNBOUND", "lsave", "try_enter", "try_exit", "try_fail",
    "_pending", "caught", "hide_internal", "register",
    "closure", "deco", "dir_", "edeco", "estar", "eval_", "exec_", "locals_", "mstar", "star",
    "gx", "gxlast", "gxsrc", "nest", "nref", "pattr", "pbop", "pcall", "pfv", "pit", "pitem", "pmcall", "prdo", "pro",
    "puop", "pcop", "npaug", "npaugset", "npbop", "npcall", "npflush", "npget", "nprefs", "npstore", "unpack", "keyed", "keyed_sort", "kxsrc",
]
