"""try bodies that run in parallel (see _translate/trybody.py)."""

from .barriers import barrier
from .state import S, _on_driver
from .state import pending as _pending


# --------------------------------------------------------------------------
# try bodies that run in parallel (see _translate/trybody.py)

UNBOUND = object()  # a local that had no value before a store that is rolled back


def try_enter():
    """The log of local stores of one run of a lazy try body."""
    return []


def lsave(tk, loc, names):
    """Before storing `names` while tasks are pending: their current values,
    tagged with the last task called before the store."""
    if not _pending or not _on_driver():
        return  # plain Python (another thread, a task): nothing to roll back
    s = S.last_seq
    if tk and tk[0][0] < _pending[0][0]:
        # stores made when only finished tasks had been called stay: forget
        # them (a long loop keeps the log, and the old values, small)
        oldest = _pending[0][0]
        del tk[:next((i for i, e in enumerate(tk) if e[0] >= oldest), len(tk))]
    for n in names:
        tk.append((s, n, loc.get(n, UNBOUND)))


def try_exit(tk):
    """End of a lazy try body (or a return/break leaving it): a task called in
    it fails here, inside the try, so the handlers see it."""
    if _pending and _on_driver():
        barrier()
    tk.clear()


def try_fail(tk, exc):
    """An exception leaves a lazy try body: the one to raise (a task called
    earlier fails first) and the locals to roll back to that point."""
    if not isinstance(exc, KeyboardInterrupt) and _pending and _on_driver():
        try:
            barrier()
        except BaseException as first:  # earlier in program order
            first.__suppress_context__ = True
            exc = first
    rb = {}
    lf = S.last_failure
    if lf is not None and lf[1] is exc:
        for seq, name, old in tk:
            if seq >= lf[0] and name not in rb:
                rb[name] = old
    tk.clear()
    return rb, exc


