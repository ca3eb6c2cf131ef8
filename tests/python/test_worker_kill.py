"""A worker killed with SIGKILL mid-run does not change the result."""

import os
import signal
import time

from conftest import descendants, require_local

from pydron import _backend


def slow_square(x):
    import time

    time.sleep(0.05)
    return x * x


def test_sigkill_worker_mid_run():
    require_local()
    s = _backend.Session("local", workers=2)
    try:
        warm = [s.submit(slow_square, (i,), {}) for i in range(4)]
        s.wait_all(warm)
        workers = descendants(os.getpid())
        assert len(workers) >= 2
        fs = [s.submit(slow_square, (i,), {}) for i in range(60)]
        time.sleep(0.3)  # tasks are in flight on both workers
        os.kill(workers[0], signal.SIGKILL)
        assert [f.result(timeout=60) for f in fs] == [i * i for i in range(60)]
        assert s.stats()["tasks_retried"] >= 1
    finally:
        s.close()
