"""Ctrl-C (SIGINT) in a driver stops everything and leaves no worker."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from conftest import procs_with_env


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)

DRIVER = textwrap.dedent("""
    import sys, time
    from pydron import _backend, config

    def slow(x, t):
        import time
        time.sleep(t)
        return x

    config.configure(executor=sys.argv[1], workers=2)
    s = _backend.session()
    fs = [s.submit(slow, (i, float(sys.argv[2])), {}) for i in range(4)]
    print("running", flush=True)
    print([f.result() for f in fs])
""")


@pytest.mark.parametrize("executor", ["threads", "local"])
def test_sigint_stops_driver_and_workers(executor):
    if executor == "local":
        from conftest import require_local

        require_local()
    marker = f"PYDRON_TEST_MARKER_{uuid.uuid4().hex}"
    env = dict(os.environ, **{marker: "1"})
    # A thread cannot be stopped mid-task: the threads driver exits once the
    # running tasks return; worker processes are stopped at once.
    sleep = "2" if executor == "threads" else "60"
    # A terminal delivers SIGINT with its default disposition; a test run
    # started in the background (CI, nohup, `cmd &`) inherits SIG_IGN, and
    # Python then installs no KeyboardInterrupt handler. Restore the default.
    p = subprocess.Popen([sys.executable, "-c", DRIVER, executor, sleep], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_default_sigint)
    try:
        assert p.stdout.readline().strip() == "running"
        time.sleep(0.5)
        if executor == "local":
            assert len(procs_with_env(marker)) >= 3  # driver + 2 workers
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        elapsed = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0
    assert "KeyboardInterrupt" in err
    assert elapsed < 15
    deadline = time.monotonic() + 30  # against a hang, not a speed
    while procs_with_env(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert procs_with_env(marker) == []
