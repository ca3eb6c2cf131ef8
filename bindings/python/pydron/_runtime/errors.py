"""Tracebacks that show the program, not pydron: pydron's own frames (the
runtime's dispatch, the backend's waits) are dropped from an exception
leaving a @schedule function, as pytest and Jinja hide theirs."""

import dis as _dis
import itertools
import os
import sys
import types

from .. import _core
from .._serialize import TASK_FRAME
from .state import S

# The pydron package directory: frames of code compiled from files under it
# are pydron's. Translated functions keep the program's file name.
_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def internal(code):
    """Is this code object pydron's own?"""
    return code.co_filename.startswith(_PKG)


def call_site():
    """Where the program made the current call into the runtime: (frame id,
    code, instruction, line) of the nearest frame that is not pydron's."""
    return _c_call_site(_PKG)


_c_call_site = _core.call_site


_raises = {}   # code -> offsets of the raises the translator wrote


def _generated_raises(code):
    """Offsets of `raise _pd_x<n>` in code: a lazy try body's failure raised
    again inside the try (_translate/trybody.py), which adds an entry for
    the `try` line that sequential Python's traceback does not have."""
    v = _raises.get(code)
    if v is None:
        offsets, prev = set(), None
        for ins in _dis.get_instructions(code):
            if ins.opname == "RAISE_VARARGS" and ins.arg == 1 and prev is not None \
                    and str(prev.argval).startswith("_pd_x"):
                offsets.add(ins.offset)
            prev = ins
        if len(_raises) > 4096:
            _raises.clear()
        v = _raises[code] = frozenset(offsets)
    return v


def _strip(tb, site=None):
    kept, task = [], []
    while tb is not None:
        code = tb.tb_frame.f_code
        if tb.tb_frame.f_globals.get(TASK_FRAME):
            task.append(tb)  # a task's frames (_serialize): the innermost part
        elif not internal(code) and tb.tb_lasti not in _generated_raises(code):
            kept.append(tb)
        tb = tb.tb_next
    placed = site is None
    entries = []
    for t in kept:
        lasti, lineno = t.tb_lasti, t.tb_lineno
        if not placed and id(t.tb_frame) == site[0] and t.tb_frame.f_code is site[1]:
            # a task's failure, raised where the driver first needed its
            # result: show the call instead, as sequential Python does
            lasti, lineno = site[2], site[3]
            placed = True
        entries.append((t.tb_frame, lasti, lineno))
    if not placed:
        # The frame that made the call has returned (the failure surfaced
        # when its result was returned or used later): a stand-in frame of
        # the same function at the call's line, as Jinja does for templates.
        fake = _stand_in(site[1], site[3], site[2])
        if fake is not None:
            entries.append((fake.tb_frame, fake.tb_lasti, fake.tb_lineno))
    entries += [(t.tb_frame, t.tb_lasti, t.tb_lineno) for t in task]
    # new traceback objects: the old ones may be shared with other exceptions
    new = None
    for frame, lasti, lineno in reversed(entries):
        new = types.TracebackType(new, frame, lasti, lineno)
    return new


def _stand_in(code, lineno, lasti=-1):
    """A traceback entry for a frame of `code` (gone) at line `lineno`: the
    file's source line shows, with the column marks of the call at
    instruction `lasti` when its position is on that line."""
    import ast
    import linecache

    line = linecache.getline(code.co_filename, lineno)
    start = len(line) - len(line.lstrip())
    end = max(len(line.rstrip()), start + 1)
    try:
        p = next(itertools.islice(code.co_positions(), lasti // 2, None)) if lasti >= 0 else None
    except StopIteration:
        p = None
    if p is not None and p[0] == p[1] == lineno and None not in p[2:] and p[2] < p[3]:
        start, end = p[2], p[3]   # the call's own columns, as the frame showed them
    pos = dict(lineno=lineno, end_lineno=lineno, col_offset=start, end_col_offset=end)
    body = [ast.Raise(exc=ast.Name(id="_stand_in", ctx=ast.Load(), **pos), cause=None, **pos)]
    fdef = ast.FunctionDef(name=code.co_name, args=ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
        defaults=[]), body=body, decorator_list=[], returns=None, type_comment=None, **pos)
    mod = ast.Module(body=[fdef], type_ignores=[])
    ns = {"_stand_in": _StandIn}
    try:
        exec(compile(mod, code.co_filename, "exec"), ns)
        ns[code.co_name]()
    except _StandIn as e:
        t = e.__traceback__.tb_next
        return types.TracebackType(None, t.tb_frame, t.tb_lasti, t.tb_lineno)
    except Exception:  # noqa: BLE001 - an odd name or file: no stand-in
        return None
    return None


class _StandIn(Exception):
    pass


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


def caught():
    """First statement of an `except` clause of translated code: the
    exception being handled shows the program's frames only, as sequential
    Python's does (traceback.print_exc(), log.exception, e.__traceback__)."""
    e = sys.exc_info()[1]
    if e is not None:
        hide_internal(e)
