"""A worker killed with SIGKILL mid-run does not change the result."""

import gc
import os
import signal
import time

import pytest
from conftest import descendants, require_local
from gates import hold

from pydron import _backend


def slow_square(x, gate=None):
    """With gate = (path, deadline): hold on it first (gates.hold)."""
    import time

    if gate is not None:
        hold(gate)
    time.sleep(0.05)
    return x * x


def test_sigkill_worker_mid_run(tmp_path):
    require_local()
    # workers of sessions other tests abandoned may still be around
    others = set(descendants(os.getpid()))
    s = _backend.Session("local", workers=2)
    gate = str(tmp_path / "go")
    try:
        warm = [s.submit(slow_square, (i,), {}) for i in range(4)]
        s.wait_all(warm)
        workers = [p for p in descendants(os.getpid()) if p not in others]
        assert len(workers) >= 2
        # the tasks hold on a gate opened only after the kill: the killed
        # worker has work in flight, however slow the machine
        fs = [s.submit(slow_square, (i, (gate, time.time() + 90)), {}) for i in range(60)]
        end = time.monotonic() + 60
        while not os.path.exists(f"{gate}.{workers[0]}"):  # a task runs on it
            assert time.monotonic() < end, "no task started on the worker to kill"
            time.sleep(0.02)
        os.kill(workers[0], signal.SIGKILL)
        open(gate, "w").close()
        assert [f.result(timeout=120) for f in fs] == [i * i for i in range(60)]
        assert s.stats()["tasks_retried"] >= 1
    finally:
        open(gate, "w").close()
        s.close()


def make_big(seed):
    import numpy as np

    return np.full(1 << 20, seed, dtype=np.uint8)  # 1 MiB: stays on its worker


def shift(a, k):
    return a + k


def total(a):
    return int(a.sum(dtype="uint64"))


def test_large_intermediates_lost_with_their_worker_are_recomputed():
    """Lineage: x (released after use) -> y (still needed) both lived only
    on the killed worker; y's consumer runs after the kill, so y is made
    again from x, and x first from its own producer."""
    require_local()
    pytest.importorskip("numpy")
    others = set(descendants(os.getpid()))
    s = _backend.Session("local", workers=1)
    try:
        x = s.submit(make_big, (7,), {})
        y = s.submit(shift, (x, 3), {})
        s.wait_all([y])  # waits without pulling the bytes to the driver
        del x  # only y's lineage keeps its record now
        gc.collect()
        workers = [p for p in descendants(os.getpid()) if p not in others]
        assert len(workers) == 1
        before = s.stats()["tasks_retried"]
        os.kill(workers[0], signal.SIGKILL)
        time.sleep(0.5)  # the driver sees the connection drop
        r = s.submit(total, (y,), {})
        assert r.result(timeout=60) == 10 * (1 << 20)
        # both producers ran again on the replacement worker
        assert s.stats()["tasks_retried"] - before >= 2
    finally:
        s.close()
