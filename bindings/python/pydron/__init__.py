"""pydron: run a sequential Python program as a parallel data-flow graph.

    from pydron import schedule, functional

    @functional
    def calibrate(raw, bias, ft): ...     # pure: runs as a task, anywhere

    @schedule
    def main(images): ...                 # body translated; same results as plain Python

Set PYDRON_DISABLE=1 to turn both decorators into no-ops.
"""

import sys

# The gate comes first and uses only old syntax, so an unsupported Python gets
# this message rather than a SyntaxError or an AttributeError from the
# translator (it needs ast.TryStar and co_qualname, both 3.11). pip refuses
# these Pythons already (requires-python); this covers copied or
# PYTHONPATH-shared installs.
if sys.version_info < (3, 11):
    raise ImportError(
        "pydron needs Python 3.11 or newer; this is Python %d.%d.%d (%s). "
        "Install pydron into a Python 3.11, 3.12 or 3.13 environment."
        % (sys.version_info[0], sys.version_info[1], sys.version_info[2], sys.executable))

import functools
import os
import warnings

# The warnings filters the program started with: tasks get the program's
# filters when they differ (pydron._state).
_WARN_FILTERS = tuple(warnings.filters)

from ._version import __version__  # generated from include/pydron.h at build time

__all__ = ["schedule", "functional", "configure", "stats", "PydronError", "PurityWarning",
           "SerialWarning", "TranslationError", "TaskError", "VersionMismatch", "__version__"]


def _disabled():
    return os.environ.get("PYDRON_DISABLE", "") not in ("", "0")


def functional(fn):
    """Mark `fn` pure: inside a @schedule function a call becomes a task that may run
    on any worker, in any order the data allows. Called elsewhere, it is a plain call."""
    if _disabled():
        return fn
    if isinstance(fn, (staticmethod, classmethod)):
        return type(fn)(functional(fn.__func__))

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    wrapper.__pydron_kind__ = "functional"
    wrapper.__pydron_functional__ = fn
    return wrapper


def schedule(fn):
    """Translate `fn` so that its @functional calls run in parallel while everything
    else keeps the behaviour of the sequential program (see docs/python.md)."""
    if _disabled():
        return fn
    if isinstance(fn, (staticmethod, classmethod)):
        return type(fn)(schedule(fn.__func__))
    from . import _runtime
    from ._translate import TranslationError, translate
    from ._translate.nested import MODE

    tidy = _runtime.hide_internal
    try:
        inner, generator, codes = translate(fn)
    except TranslationError as e:
        raise tidy(e)  # the traceback shows the program's frames, not pydron's
    _runtime.register(codes, [c for c in codes if MODE in c.co_varnames])
    _runtime.raise_recursion_limit()
    if generator:
        # Generator bodies run eagerly (every call completes where it is made).
        inner.__pydron_kind__ = "schedule"
        inner.__pydron_lazy__ = inner
        inner.__wrapped__ = fn
        return inner

    run = _runtime.run_strict

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return run(inner, args, kwargs)
        except BaseException as e:
            raise tidy(e)  # the traceback shows the program's frames, not pydron's

    wrapper.__pydron_kind__ = "schedule"
    wrapper.__pydron_lazy__ = functools.partial(_runtime.run_lazy, inner)
    wrapper.__pydron_translated__ = inner
    return wrapper


def stats() -> dict:
    """Counters of the current run (or of the last one, after it stopped):
    tasks submitted, done, failed and retried; bytes moved to workers, between
    workers and to the driver (``bytes_moved`` is their sum); seconds the
    driver waited for results (``driver_wait_s``) and since the run started
    (``elapsed_s``); workers and executor. All zero before the first run.
    PYDRON_STATS=1 prints them as one line when the program ends."""
    from . import _backend

    s = _backend.current()
    if s is not None:
        return s.view_stats()
    if _backend._last_stats is not None:
        return dict(_backend._last_stats)
    from ._view import make_stats

    zero = dict.fromkeys(("tasks_added", "tasks_done", "tasks_failed", "tasks_retried",
                          "bytes_to_workers", "bytes_between_workers", "bytes_to_driver",
                          "wait_ns"), 0)
    st = make_stats(zero, 0.0, 0, "")
    st["elapsed_s"] = 0.0
    return st


def __getattr__(name):
    # Lazy: `import pydron` must not load the extension or start anything.
    if name == "TranslationError":
        # lazy too: worker processes import this package but never translate
        from ._translate.validate import TranslationError
        return TranslationError
    if name == "configure":
        from .config import configure
        return configure
    if name == "PurityWarning":
        from ._purity import PurityWarning
        return PurityWarning
    if name == "SerialWarning":
        from ._runtime.hints import SerialWarning
        return SerialWarning
    if name == "TaskError":
        from ._serialize import TaskError
        return TaskError
    if name == "PydronError":
        from ._core import PydronError
        return PydronError
    if name == "VersionMismatch":
        from ._ship import VersionMismatch
        return VersionMismatch
    raise AttributeError(f"module 'pydron' has no attribute {name!r}")
