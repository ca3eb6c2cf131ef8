"""The look-ahead window has a byte budget (issue 11, memory bounded): tasks
whose results are not consumed yet, or whose arguments sit in the driver's
shared memory, pause the driver once they hold PYDRON_WINDOW_BYTES, instead of
memory growing with the look-ahead. Real workers; the counts are compared
with the same program run without the budget in the same test."""

import time

import numpy as np
import pytest

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


@functional
def make(i, t):
    time.sleep(t)
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


def _most_pending(monkeypatch, fn, *args):
    from conftest import spy_tasks

    most = []
    spy_tasks(monkeypatch, lambda: None, lambda _, fut: most.append(
        sum(1 for _, p in _runtime._pending if type(p) is not _runtime.state.S.Lazy)))
    res = fn(*args)
    monkeypatch.undo()
    return res, max(most)


def test_results_not_consumed_pause_the_driver(monkeypatch, executor):
    n, t = 40, 0.02
    want = float(sum(range(n)) * (MB // 8))
    # without a budget (1 GiB): the driver adds (nearly) every task at once
    res, free = _most_pending(monkeypatch, consume_each, n, t)
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
