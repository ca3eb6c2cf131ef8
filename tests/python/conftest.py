"""Shared helpers for the Python tests (real processes, no mocks)."""

import os
import sys

import pytest

# Tests run against the installed package (pip install .) or, for
# development, against the build tree named in PYDRON_PYTHONPATH.
_extra = os.environ.get("PYDRON_PYTHONPATH")
if _extra:
    for p in reversed(_extra.split(os.pathsep)):
        if p and p not in sys.path:
            sys.path.insert(0, p)
    # subprocesses (driver scripts, workers) import the same tree
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [_extra] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))


def local_available() -> bool:
    """True when the local (worker process) executor can start here."""
    from pydron import _backend

    try:
        s = _backend.Session("local", workers=1)
    except Exception:
        return False
    s.close()
    return True


_LOCAL = None


def has_local():
    global _LOCAL
    if _LOCAL is None:
        _LOCAL = local_available()
    return _LOCAL


def require_local():
    if not has_local():
        pytest.skip("local executor not available in this build")


@pytest.fixture(params=["threads", "local"])
def executor(request):
    """The program runs on each executor that has workers of its own, two of
    them (a test module may define its own list)."""
    if request.param == "local":
        require_local()
    import pydron

    pydron.configure(executor=request.param, workers=2)
    yield request.param


@pytest.fixture
def local():
    """A Session on the local executor with two worker processes."""
    require_local()
    from pydron import _backend

    s = _backend.Session("local", workers=2)
    yield s
    s.close()


@pytest.fixture(params=["inline", "threads", "local"])
def session(request):
    """A fresh Session on each executor (local skipped if not available)."""
    from pydron import _backend

    if request.param == "local":
        require_local()
    s = _backend.Session(request.param, workers=2)
    yield s
    s.close()


def descendants(pid: int) -> list:
    """Pids of all live descendants of pid (from /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        rest = st.rsplit(")", 1)[1].split()
        if rest[0] == "Z":
            continue
        children.setdefault(int(rest[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def procs_with_env(marker: str) -> list:
    """Live pids whose environment contains marker (finds orphaned workers)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{d}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in env and state != "Z":
            found.append(int(d))
    return found


def spy_tasks(monkeypatch, before, after):
    """Watch the tasks a @schedule body adds: before() runs ahead of each
    call that may add one, after(token, fut) once it did (token: what
    before() returned, fut: the task's new Future). Translated code calls
    through _runtime.call, whose C fast path does not go through
    calls._submit; the runtime's own calls (steps of map(), partials) do."""
    import weakref

    from pydron import _runtime

    seen = weakref.WeakSet()

    def spying(real):
        def spy(*a, **k):
            token = before()
            fut = real(*a, **k)
            if type(fut) is _runtime.state.S.Future and fut not in seen:
                seen.add(fut)  # a nested @schedule call hands back its own task's
                after(token, fut)
            return fut
        return spy

    monkeypatch.setattr(_runtime, "call", spying(_runtime.call))
    monkeypatch.setattr(_runtime.calls, "_submit", spying(_runtime.calls._submit))
    # a generator expression's lazy twin calls the fast path from the runtime
    monkeypatch.setattr(_runtime.calls, "fast_call", spying(_runtime.calls.fast_call))
