"""Tracebacks that show the program, not pydron: pydron's own frames (the
runtime's dispatch, the backend's waits) are dropped from an exception
leaving a @schedule function, as pytest and Jinja hide theirs."""

import os
import types

from .state import S

# The pydron package directory: frames of code compiled from files under it
# are pydron's. Translated functions keep the program's file name.
_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def internal(code):
    """Is this code object pydron's own?"""
    return code.co_filename.startswith(_PKG)


def _strip(tb, site=None):
    kept = []
    while tb is not None:
        if not internal(tb.tb_frame.f_code):
            kept.append(tb)
        tb = tb.tb_next
    new = None
    for t in reversed(kept):
        lasti, lineno = t.tb_lasti, t.tb_lineno
        if site is not None and id(t.tb_frame) == site[0] and t.tb_frame.f_code is site[1]:
            # a task's failure, raised where the driver first needed its
            # result: show the call instead, as sequential Python does
            lasti, lineno = site[2], site[3]
        # new traceback objects: the old ones may be shared with other exceptions
        new = types.TracebackType(new, t.tb_frame, lasti, lineno)
    return new


def hide_internal(exc):
    """Drop pydron's frames from the traceback of `exc` and of the exceptions
    chained to it; returns `exc`."""
    fs = S.failure_site
    site = fs[1] if fs is not None and fs[0] is exc else None
    S.failure_site = None
    seen = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if e.__traceback__ is not None:
            e.__traceback__ = _strip(e.__traceback__, site if e is exc else None)
        todo.append(e.__cause__)
        todo.append(e.__context__)
    return exc
