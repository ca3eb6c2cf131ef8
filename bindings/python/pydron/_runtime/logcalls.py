"""Logging calls in a @schedule body: deferred like print.

`log.info("calibrated %s", name)` in a loop was code pydron does not know:
a barrier, so every task before it finished first and the loop ran one task
at a time. What such a call does is write a line to a stream, as print
does; so while tasks are pending it is queued in program order with them
(lookahead.Lazy), and runs, in order with the deferred prints, once every
task before it has finished; after an earlier failure it never runs, as in
the sequential program.

The record is made at the call (logger.makeRecord): its time, and the
program's file, line and function (the frame of the call, not pydron's),
and the exception being handled (`log.exception` in an `except`) are
those of the call. Arguments that are placeholders are resolved when its
turn comes; plain immutable ones are kept; a mutable value of a known
effect-free category (an array, a list) is formatted into the message at
the call, when no placeholder is among the arguments.

Deferred only where what happens at its turn is known to be writing text:
the logger and every logger it propagates to are logging's own classes with
no filters, and each handler is logging's own StreamHandler or FileHandler
(or the last resort, stderr) with no filters and logging's own Formatter.
Anything else (a handler of the program, a filter, a Formatter subclass,
`stacklevel`, `stack_info`) is called as before, behind a barrier. A call
below the logger's level does nothing (no barrier either), as Logger.info
checks first.
"""

import logging
import sys

from .barriers import r
from .escapes import _pydron_frames
from .lookahead import _capture, _defer
from .state import S, _on_driver, pending as _pending

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "warn": logging.WARNING, "error": logging.ERROR, "exception": logging.ERROR,
           "critical": logging.CRITICAL, "fatal": logging.CRITICAL}
_LOGGERS = (logging.Logger, logging.RootLogger)
_HANDLERS = (logging.StreamHandler, logging.FileHandler, type(logging.lastResort))
_KW = frozenset(("exc_info", "extra"))
# the methods of logging.Logger, and logging's module-level functions
_METHODS = {getattr(logging.Logger, n): n for n in _LEVELS}
_MODULE = {getattr(logging, n): n for n in _LEVELS}
_MODULE[logging.log] = "log"
_METHODS[logging.Logger.log] = "log"


def log_call(f):
    """The name of the logging call f (a Logger's method or logging's
    module-level function), or None."""
    if type(f) is type(log_call):
        return _MODULE.get(f)
    self = getattr(f, "__self__", None)
    if type(self) in _LOGGERS:
        return _METHODS.get(getattr(f, "__func__", None))
    return None


def _plain_handlers(logger):
    """Does handling a record of logger write text, and run nothing else?"""
    found = False
    c = logger
    while c is not None:
        if type(c) not in _LOGGERS or c.filters:
            return False
        for h in c.handlers:
            if type(h) not in _HANDLERS or h.filters or \
                    (h.formatter is not None and type(h.formatter) is not logging.Formatter):
                return False
            found = True
        if not c.propagate:
            break
        c = c.parent
    return found or logging.lastResort is not None


def _log_op(logger, record, *args):
    if args:
        record.args = tuple(r(a) for a in args)
    logger.handle(record)


def deferred(f, name, args, kwargs):
    """The call f(*args, **kwargs) (name: log_call(f)) done or queued, and
    True; or False: the caller calls it as before."""
    if not _pending or not _on_driver() or (kwargs and not _KW.issuperset(kwargs)):
        return False
    if type(f) is type(log_call):   # logging.info(...): the root logger
        logger = logging.root
        if not logger.handlers:
            return False   # it would call basicConfig() first
    else:
        logger = f.__self__
    if name == "log":
        if not args or type(args[0]) is not int:
            return False
        level, args = args[0], args[1:]
    else:
        level = _LEVELS[name]
    if not args:
        return False   # (Python's own TypeError, as before)
    if not logger.isEnabledFor(level):
        return True    # below the level: the call does nothing
    if not _plain_handlers(logger):
        return False
    msg, margs = args[0], args[1:]
    if type(msg) is not str:
        return False
    pending = mutable = False
    for a in margs:
        c = _capture(a)
        if c > 0:
            pending = True
        elif c < 0:
            if isinstance(a, S.Future) or S.backend.category(a) is None:
                return False
            mutable = True   # an array, a list: may change before its turn
    if pending and mutable:
        return False
    extra = kwargs.get("extra")
    if extra is not None and (type(extra) is not dict or any(_capture(v) != 0 for v in extra.values())):
        return False
    exc_info = kwargs.get("exc_info", name == "exception")
    if exc_info and not isinstance(exc_info, BaseException) and type(exc_info) is not tuple:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not exc_info or exc_info == (None, None, None):
        exc_info = None
    frame, _ = _pydron_frames()
    if frame is None:
        return False
    code = frame.f_code
    if len(margs) == 1 and isinstance(margs[0], dict) and margs[0]:
        return False   # a mapping of arguments: formatted by key, as LogRecord does
    if mutable:
        try:   # formatted now, as the values are (a handler's error stays its own)
            msg, margs = msg % margs, ()
        except Exception:
            return False
    record = logger.makeRecord(logger.name, level, code.co_filename, frame.f_lineno, msg,
                               (), exc_info, code.co_name, extra, None)
    _defer(_log_op, (logger, record, *margs), None, ("p",), "none")
    return True
