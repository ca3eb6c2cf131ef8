"""The data path for distance (issue 14 item 3, issue 12 item 1): waits at
barriers ask for a task's status, not its bytes; each worker's in-flight
window follows the measured round trip and task duration, or is fixed by
configure(window=...); the heartbeat is set by configure(heartbeat=...).
Real worker processes (and hosts in network namespaces for the delayed
link); no speed is asserted."""

import os
import socket
import sys
import threading
import time

import pytest
from conftest import require_local

import pydron
from pydron import _backend, functional, schedule

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "7c2e9a4f1b6d40e3a8c5f2b9d0e7a1c4"  # 128 bits, test only
MB = 1 << 20


@functional
def big(i):
    return bytes([i]) * MB  # stays on the worker that made it


@functional
def head(b):
    return b[0]


@schedule
def two_stage(n):
    out = []
    for i in range(n):
        out.append(head(big(i)))  # big() results are only read by head()
    return sum(out)


def test_schedule_exit_waits_for_status_not_bytes():
    """Before: the @schedule exit pulled every result's bytes to the driver
    (the 1 MiB intermediates too) although only their status was needed."""
    require_local()
    pydron.configure(executor="local", workers=2)
    try:
        assert two_stage(8) == sum(range(8))
        moved = pydron.stats()["bytes_to_driver"]
        # the small results come back with their completions; none of the
        # eight 1 MiB intermediates travels to the driver
        assert moved < MB, moved
    finally:
        from pydron import config

        config.reset()
        pydron.configure()  # stops the session


def test_barrier_still_raises_a_large_results_failure_in_place():
    require_local()
    s = _backend.Session("local", workers=2)
    try:
        f = s.submit(os.urandom, (2 * MB,), {})
        assert f.exception(timeout=60) is None  # status only
        assert s.stats()["bytes_to_driver"] < MB
        assert len(f.result()) == 2 * MB  # read: now the bytes come
        bad = s.submit(os.urandom, (-1,), {})
        assert isinstance(bad.exception(timeout=60), ValueError)
    finally:
        s.close()


def sleepy(x, t):
    import time

    time.sleep(t)
    return x


def tiny(x):
    return x + 1


def test_window_is_small_for_long_tasks_and_fixed_when_configured():
    require_local()
    s = _backend.Session("local", workers=2)
    try:
        fs = [s.submit(sleepy, (i, 0.15), {}) for i in range(12)]
        assert [f.result(timeout=60) for f in fs] == list(range(12))
        for w in range(2):
            win, down = s._rt.window(w)
            assert not down
            # one thread per worker: the running task, one on its way, one queued
            assert 2 <= win <= 4, win
    finally:
        s.close()
    s = _backend.Session("local", workers=2, window=5)
    try:
        fs = [s.submit(sleepy, (i, 0.05), {}) for i in range(8)]
        assert [f.result(timeout=60) for f in fs] == list(range(8))
        assert [s._rt.window(w)[0] for w in range(2)] == [5, 5]
    finally:
        s.close()


def test_configure_window_and_heartbeat():
    from pydron import config

    try:
        pydron.configure(window=128, heartbeat=0.25)
        r = config.resolved()
        assert r["window"] == 128 and r["heartbeat_ms"] == 250
        with pytest.raises(ValueError, match="window"):
            pydron.configure(window=-1)
        with pytest.raises(ValueError, match="window"):
            pydron.configure(window=2.5)
        with pytest.raises(ValueError, match="heartbeat"):
            pydron.configure(heartbeat=0)
        with pytest.raises(ValueError, match="heartbeat"):
            pydron.configure(heartbeat="soon")
        assert config.resolved()["window"] == 128  # a bad setting changes nothing
    finally:
        config.reset()
    old = os.environ.get("PYDRON_WINDOW")
    os.environ["PYDRON_WINDOW"] = "32"
    try:
        assert config.resolved()["window"] == 32
        os.environ["PYDRON_WINDOW"] = "lots"
        with pytest.raises(ValueError, match="PYDRON_WINDOW"):
            config.resolved()
    finally:
        if old is None:
            del os.environ["PYDRON_WINDOW"]
        else:
            os.environ["PYDRON_WINDOW"] = old


def test_window_covers_a_20ms_link():
    """One remote worker on another host behind a 20 ms (one way) link:
    with tiny tasks the window grows past the old fixed 64 to cover the
    round trip; with 0.2 s tasks on the same link it stays a few jobs."""
    from nethosts import NetHosts

    ok, why = NetHosts.available()
    if not ok:
        pytest.skip(why)
    with NetHosts(1, delay_ms=20) as net:
        with socket.socket() as so:
            so.bind(("0.0.0.0", 0))
            port = so.getsockname()[1]
        url = f"tcp://{net.driver_ip}:{port}"
        env = dict(os.environ, PYDRON_SECRET=SECRET)
        procs = []

        def launch():
            time.sleep(0.3)
            procs.append(net.hosts[0].popen([sys.executable, "-m", "pydron.worker",
                                             "--connect", url, "--path", HERE], env=env))

        t = threading.Thread(target=launch)
        t.start()
        try:
            s = _backend.Session("remote", workers=1, address=url, secret=SECRET)
        finally:
            t.join()
        try:
            fs = [s.submit(tiny, (i,), {}) for i in range(3000)]
            s.wait_all(fs)
            assert [f.result() for f in fs[:3]] == [1, 2, 3]
            tiny_win = s._rt.window(0)[0]
            assert tiny_win > 64, tiny_win
            fs = [s.submit(sleepy, (i, 0.2), {}) for i in range(8)]
            assert [f.result(timeout=60) for f in fs] == list(range(8))
            long_win = s._rt.window(0)[0]
            assert long_win < tiny_win and long_win <= 8, (long_win, tiny_win)
        finally:
            s.close()
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
