"""The driver's C fast path for plain @functional calls (pydron._core.call,
fastcall.c) against the Python path it takes over from (PYDRON_FASTCALL=0):
the same programs give the same stdout and stderr, tracebacks included, on
each executor; and the fast path did take (and hand back) the calls the
programs are written for. The programs also run in test_differential
against the plain sequential run."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import pydron
from pydron import _core, _runtime, functional, schedule

HERE = pathlib.Path(__file__).parent
# written for it, and the differential programs of many tiny calls
PROGRAMS = sorted((HERE / "programs").glob("fastcall_*.py")) + [
    HERE / "programs" / f"{name}.py" for name in (
        "batch_tiny_calls_each_its_own", "batch_tiny_logging_and_errors",
        "thousands_tiny_tasks")]
PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)

# Runs a program as __main__ and writes what the fast path took to a file
# (both runs use it, so their tracebacks have the same frames).
RUN = """
import json, runpy, sys
from pydron import _core
try:
    runpy.run_path(sys.argv[1], run_name="__main__")
finally:
    with open(sys.argv[2], "w") as f:
        json.dump(_core.fast_counts(), f)
"""


def _run(prog, executor, fast, tmp_path):
    counts = tmp_path / f"counts-{fast}.json"
    env = dict(os.environ, PYDRON_EXECUTOR=executor, PYDRON_WORKERS="2",
               PYDRON_FASTCALL="1" if fast else "0",
               PYTHONPATH=os.pathsep.join([PKG_ROOT, os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-c", RUN, str(prog), str(counts)], env=env,
                       capture_output=True, text=True, timeout=120, cwd=str(prog.parent))
    return p.stdout, p.stderr, p.returncode, json.loads(counts.read_text())


@pytest.mark.parametrize("executor", ["threads", "local"])
@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_same_output_as_python_path(prog, executor, tmp_path):
    if executor == "local":
        from conftest import require_local
        require_local()
    out, err, rc, counts = _run(prog, executor, True, tmp_path)
    out0, err0, rc0, counts0 = _run(prog, executor, False, tmp_path)
    assert (out, err, rc) == (out0, err0, rc0)
    assert counts0["calls"] == 0  # off: nothing went through C
    assert counts["calls"] > 100 and counts["settled"] > 100, counts
    if prog.stem.startswith("fastcall_"):
        assert counts["appends"] > 100, counts  # lst.append(placeholder) in C
    if "mixed" in prog.stem:
        assert counts["handed_back"] > 100 and counts["rest"] > 0, counts
    if "failures" in prog.stem:
        # the failing call's own line, through the fast path
        assert "out.append(g(i))" in err and "ValueError: bad 1701" in err


@functional
def inc(x):
    return x + 1


@schedule
def loop(n):
    out = []
    for i in range(n):
        out.append(inc(i))
    return out


def test_counts_show_the_path_taken():
    pydron.configure(executor="threads", workers=2)
    try:
        before = _core.fast_counts()
        assert loop(3000) == list(range(1, 3001))
        after = _core.fast_counts()
    finally:
        pydron.configure()
    if _runtime.call is not _core.call:
        pytest.skip("PYDRON_FASTCALL=0 in this environment")
    assert after["calls"] > before["calls"]
    # (the first call starts the session: the Python path)
    assert after["appends"] - before["appends"] >= 2990


@pytest.mark.parametrize("executor", ["threads", "local"])
def test_window_by_count_and_bytes(monkeypatch, executor):
    """Calls batched by the fast path still pause the driver at the
    look-ahead window's count and byte budget (the C path's own check)."""
    from conftest import require_local, spy_tasks

    if executor == "local":
        require_local()
    pydron.configure(executor=executor, workers=2)
    try:
        assert loop(3000) == list(range(1, 3001))  # the batch size is known now
        seen = []
        spy_tasks(monkeypatch, lambda: None, lambda _, fut: seen.append(
            (len(_runtime._pending), sum(f._n for _, f in _runtime._pending))))
        for window, budget in ((40, 1 << 30), (10000, 3000)):
            monkeypatch.setattr(_runtime.state.S, "window", window)
            monkeypatch.setattr(_runtime.state.S, "window_bytes", budget)
            del seen[:]
            before = _core.fast_counts()["calls"]
            assert loop(3000) == list(range(1, 3001))
            if _runtime.calls.fast_call is _core.call:
                assert _core.fast_counts()["calls"] - before > 1000
            assert max(n for n, _ in seen) <= window
            assert max(b for _, b in seen) <= budget
            # (the limit did bind)
            assert max(n for n, _ in seen) > window // 2 or max(b for _, b in seen) > budget // 2
    finally:
        pydron.configure()
