"""`python -m pydron.worker` dialing a remote-executor driver, with a secret."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from pydron import _backend


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def whoami(x):
    import os

    return os.getpid(), x * 3


def test_python_workers_dial_in(tmp_path):
    url = f"tcp://127.0.0.1:{free_port()}"
    secret_file = tmp_path / "secret"
    secret = "s3cret-for-test-0123456789abcdefghij"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    procs = []

    def launch():
        time.sleep(0.3)  # the driver listens once its graph starts
        bad = subprocess.Popen([sys.executable, "-m", "pydron.worker", "--connect", url],
                               env=dict(os.environ, PYDRON_SECRET="wrong-secret-0123456789abcdefghij"),
                               stderr=subprocess.PIPE, text=True)
        procs.append(bad)
        for _ in range(2):
            # a remote host imports the test module from its own path
            procs.append(subprocess.Popen([sys.executable, "-m", "pydron.worker", "--connect", url,
                                           "--secret-file", str(secret_file),
                                           "--path", os.path.dirname(__file__)]))

    t = threading.Thread(target=launch)
    t.start()
    try:
        s = _backend.Session("remote", workers=2, address=url, secret=secret)
        t.join()
        fs = [s.submit(whoami, (i,), {}) for i in range(40)]
        res = [f.result(timeout=60) for f in fs]
        assert [r[1] for r in res] == [3 * i for i in range(40)]
        good = {p.pid for p in procs[1:]}
        assert {r[0] for r in res} <= good
        s.close()
        # the worker with the wrong secret was refused and exited non-zero
        assert procs[0].wait(timeout=30) != 0
        for p in procs[1:]:
            assert p.wait(timeout=30) == 0  # orderly shutdown by the driver
    finally:
        t.join()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_worker_requires_connect():
    r = subprocess.run([sys.executable, "-m", "pydron.worker"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "--connect" in r.stderr
