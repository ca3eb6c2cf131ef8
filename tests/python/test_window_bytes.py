"""The look-ahead window has a byte budget (issue 11, memory bounded): tasks
whose results are not consumed yet, or whose arguments sit in the driver's
shared memory, pause the driver once they hold PYDRON_WINDOW_BYTES, instead of
memory growing with the look-ahead. Real workers; the counts are compared
with the same program run without the budget in the same test."""

import time

import numpy as np
import pytest
from gates import wait_file

import pydron
from pydron import _runtime, functional, schedule

MB = 1 << 20


@pytest.fixture(params=["threads", "local"])
def executor(request):
    if request.param == "local":
        from conftest import require_local
        require_local()
    pydron.configure(executor=request.param, workers=2)
    yield request.param
    pydron.configure()


def _nap(t):
    """Sleep t seconds, or with t = (path, deadline): wait until the file
    path exists (or the wall-clock deadline passed)."""
    if isinstance(t, tuple):
        wait_file(*t)
    else:
        time.sleep(t)


@functional
def make(i, t):
    # a gate holds every task but the first: until one result was seen the
    # driver cannot tell what make returns, and waits for it
    _nap(0 if i == 0 and isinstance(t, tuple) else t)
    return np.full(MB // 8, float(i))  # 1 MiB result


@functional
def first(a, t):
    time.sleep(t)
    return float(a[0])


@schedule
def consume_each(n, t):
    # each result is read by a deferred operation: the driver runs ahead
    total = 0.0
    for i in range(n):
        total += make(i, t).sum()
    return total


@schedule
def big_args(n, t):
    out = []
    for i in range(n):
        out.append(first(np.full(MB // 8, float(i)), t))  # 1 MiB argument each
    return out


def _most_pending(monkeypatch, fn, *args, gate=None, gate_at=None):
    """fn(*args) and the most tasks pending at once; with a gate path,
    the file is created once gate_at tasks were added."""
    from conftest import spy_tasks

    most = []

    def after(_, fut):
        most.append(sum(1 for _, p in _runtime._pending if type(p) is not _runtime.state.S.Lazy))
        if gate is not None and len(most) == gate_at:
            open(gate, "w").close()

    spy_tasks(monkeypatch, lambda: None, after)
    try:
        res = fn(*args)
    finally:
        if gate is not None:
            open(gate, "w").close()
    monkeypatch.undo()
    return res, max(most)


def test_results_not_consumed_pause_the_driver(monkeypatch, executor, tmp_path):
    n, t = 40, 0.02
    want = float(sum(range(n)) * (MB // 8))
    # without a budget (1 GiB): the driver adds (nearly) every task at once;
    # the tasks (but the first, see make) hold until all n were added (a
    # gate, 60 s deadline: a driver that pauses leaves it shut and adds
    # fewer), so the count does not depend on how fast the workers are
    # compared to the driver
    gate = str(tmp_path / "go")
    res, free = _most_pending(monkeypatch, consume_each, n, (gate, time.time() + 60),
                              gate=gate, gate_at=n)
    assert res == want
    assert free >= n // 2
    # 6 MiB: once a result's size is known, at most ~6 of them wait
    monkeypatch.setattr(_runtime.state.S, "window_bytes", 6 * MB)
    res, bounded = _most_pending(monkeypatch, consume_each, n, t)
    monkeypatch.setattr(_runtime.state.S, "window_bytes", 1 << 30)
    assert res == want
    assert bounded <= 10, bounded  # the first ones are added before a size is known
    assert bounded < free


def test_arguments_count_against_the_budget(monkeypatch, executor):
    n, t = 30, 0.02
    monkeypatch.setattr(_runtime.state.S, "window_bytes", 5 * MB)
    res, bounded = _most_pending(monkeypatch, big_args, n, t)
    monkeypatch.setattr(_runtime.state.S, "window_bytes", 1 << 30)
    assert res == [float(i) for i in range(n)]
    assert bounded <= 6, bounded


def test_budget_from_environment(tmp_path):
    import os
    import subprocess
    import sys

    prog = tmp_path / "p.py"
    prog.write_text("from pydron import _runtime\nprint(_runtime.state.S.window_bytes)\n")
    env = dict(os.environ, PYDRON_WINDOW_BYTES=str(3 * MB))
    out = subprocess.run([sys.executable, str(prog)], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(3 * MB)
    env["PYDRON_WINDOW_BYTES"] = "lots"
    out = subprocess.run([sys.executable, str(prog)], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "PYDRON_WINDOW_BYTES must be an integer" in out.stderr
