"""Tracebacks that show the program, not pydron: pydron's own frames (the
runtime's dispatch, the backend's waits) are dropped from an exception
leaving a @schedule function, as pytest and Jinja hide theirs."""

import os
import types

# The pydron package directory: frames of code compiled from files under it
# are pydron's. Translated functions keep the program's file name.
_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def internal(code):
    """Is this code object pydron's own?"""
    return code.co_filename.startswith(_PKG)


def _strip(tb):
    kept = []
    while tb is not None:
        if not internal(tb.tb_frame.f_code):
            kept.append(tb)
        tb = tb.tb_next
    new = None
    for t in reversed(kept):
        # new traceback objects: the old ones may be shared with other exceptions
        new = types.TracebackType(new, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return new


def hide_internal(exc):
    """Drop pydron's frames from the traceback of `exc` and of the exceptions
    chained to it; returns `exc`."""
    seen = set()
    e = exc
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if e.__traceback__ is not None:
            e.__traceback__ = _strip(e.__traceback__)
        todo.append(e.__cause__)
        todo.append(e.__context__)
    return exc
