"""The driver's state: one object for what the runtime's functions change, and
the containers they share (never rebound, so every module may hold them).

The driver is one thread: the thread running the outermost @schedule call.
"""

import collections
import itertools
import os
import threading


def _window_bytes():
    v = os.environ.get("PYDRON_WINDOW_BYTES", "")
    try:
        n = int(v) if v else 1 << 30
    except ValueError:
        raise ValueError(f"PYDRON_WINDOW_BYTES must be an integer, not {v!r}") from None
    if n <= 0:
        raise ValueError("PYDRON_WINDOW_BYTES must be > 0")
    return n


class _NoFuture:
    pass


class Driver:
    """What changes while a @schedule call runs (formerly module globals)."""

    __slots__ = ("driver", "in_backend", "last_seq", "last_lazy", "last_failure", "next_lazy",
                 "Future", "Lazy", "backend", "deferrable_ids", "window", "batching",
                 "window_bytes", "pbytes", "horizon",
                 "failure_site")

    def __init__(self):
        # The thread running the outermost @schedule call; translated code run by
        # any other thread (or by no @schedule call) is plain Python.
        self.driver = None
        # Inside a call into the backend: the inline executor runs task bodies
        # there, on this thread, and translated code reached from them is plain Python.
        self.in_backend = False
        self.last_seq = 0       # program-order number of the newest task or operation
        self.last_lazy = 0      # program-order number of the newest deferred operation
        self.last_failure = None  # (program-order number, exception) of the last failure raised
        # (exception, call site) of the last task failure raised: its traceback
        # points at the call (errors.hide_internal)
        self.failure_site = None
        self.next_lazy = False  # the next nested def is called by translated code
        self.Future = _NoFuture  # the backend's Future class, set when the session starts
        self.Lazy = _NoFuture    # the backend's Lazy class (deferred driver operations)
        self.backend = None
        self.deferrable_ids = None  # id(builtin or numpy function) -> name, once numpy is loaded
        # How many pending tasks before the driver waits for the oldest (keeps memory flat).
        self.window = 10000
        # ... and how many bytes they may hold (arguments in the driver's
        # shared memory, results not yet consumed, in the driver or in worker
        # stores): past it the driver waits for the oldest, instead of memory
        # growing with the look-ahead. PYDRON_WINDOW_BYTES, default 1 GiB.
        self.window_bytes = _window_bytes()
        self.pbytes = 0  # bytes of the pending tasks (Future._n), an upper bound
        # Taking the steps of a map a builtin consumes: no failure is raised
        # meanwhile, the consumer comes first (iterators._consumed).
        self.batching = False
        # While any/all read steps taken ahead: tasks after this program-order
        # number are not settled (their output and log records not handed
        # on) until the consumer reaches them; those it never reaches are
        # forgotten unseen. None: no limit.
        self.horizon = None


S = Driver()

# Tasks submitted and not yet known to have succeeded, oldest first: (seq, future).
pending = collections.deque()
# Undo entries for container/attribute mutations done while tasks were pending:
# (seq of the last task submitted before the mutation, undo callable).
undo = collections.deque()
# Containers that may hold Futures and that code other than the translated one may
# reach (id -> container); resolved in place before unknown code runs.
tainted = {}
# Classes of records (plain dataclasses, calls._record_class) built with
# placeholders in their fields: their instances are settled like lists and
# dicts (the fields in __dict__ or in slots, barriers._slotted, in place;
# rdeep, _settle, _has_future).
records = set()
seq = itertools.count(1)
# Arrays with deferred item stores queued (npstores): id -> npstores._Held.
# Emptied with the pending queue (a failure drops the stores after it).
npdirty = {}
# Code objects produced by the translator (nested defs and lambdas of @schedule
# bodies): safe to hand to the pure builtins (sorted(key=...), max(key=...)).
translated_codes = set()
# Nested defs of @schedule bodies wrapped by the nested pass (enter_nested/leave).
lazy_codes = set()

_get_ident = threading.get_ident


def register(codes, lazy):
    """The code objects the translator made for one @schedule function (its
    body, nested defs, lambdas), and those of its nested defs with a lazy
    body (they return placeholders to translated callers)."""
    translated_codes.update(codes)
    lazy_codes.update(lazy)


def session():
    # Not cached: pydron.configure() may replace the session between calls.
    if S.backend is None:
        from .. import _backend as backend

        from .lookahead import Lazy

        S.Future = backend.Future
        S.Lazy = Lazy
        S.backend = backend
    return S.backend.session()


# --------------------------------------------------------------------------
# Calls into the backend. The inline executor runs task bodies inside them, on
# this thread: translated code reached from a task body must run as plain Python.


def _in_backend_call(fn, *args):
    prev, S.in_backend = S.in_backend, True
    try:
        return fn(*args)
    finally:
        S.in_backend = prev


def _result(fut):
    return _in_backend_call(fut.result)


def _exception(fut):
    return _in_backend_call(fut.exception)


def _on_driver():
    return S.driver == _get_ident() and not S.in_backend
