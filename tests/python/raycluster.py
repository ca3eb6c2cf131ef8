"""A real Ray cluster for tests: a `ray start --head --block` process (GCS,
raylet, its workers) in a temporary directory of its own, on loopback.

    with RayCluster(cpus=2) as c:
        c.address                      # 127.0.0.1:PORT, for ray.init

It is stopped by ending the process group it was started in (never `ray
stop`, which would stop every Ray of the machine). Its workers run from an
empty directory with no PYTHONPATH: they import only what is installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def available():
    try:
        import ray  # noqa: F401
    except ImportError:
        return False, "ray is not installed (pip install ray)"
    return True, ""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayCluster:
    def __init__(self, cpus=2):
        self.cpus = cpus
        self.proc = None
        self.dir = None
        self.address = None

    def _env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYDRON_EXECUTOR", "PYDRON_ADDRESS")
               and not k.startswith("RAY_")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # no token auth on this loopback head (client_env says the same to
        # its clients): a token another Ray left in ~/.ray/auth_token would
        # otherwise turn it on for some processes and not others
        env["RAY_AUTH_MODE"] = "disabled"
        # the raylet waits 30 s (Ray's default) for its agent, a Python
        # process slow to start on a loaded machine, then aborts
        env["RAY_agent_register_timeout_ms"] = "180000"
        return env

    @staticmethod
    def client_env(env):
        """env, for a process that connects to this head as a client."""
        env["RAY_AUTH_MODE"] = "disabled"
        return env

    def logs(self):
        try:
            with open(os.path.join(self.dir, "head.log"), "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        # Ray gives its raylet a fixed 30 s to register with the GCS; on a
        # loaded machine that can fail: try again with a new head
        for attempt in range(3):
            try:
                return self._start()
            except RuntimeError:
                if attempt == 2:
                    raise

    def _start(self):
        self.client_env(os.environ)   # clients in this process (ray.init, the ray executor)
        self.dir = tempfile.mkdtemp(prefix="pydron-ray-")
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        ray = os.path.join(os.path.dirname(sys.executable), "ray")
        argv = [ray, "start", "--head", "--block", f"--port={port}",
                "--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus}",
                "--include-dashboard=false", "--disable-usage-stats",
                "--object-store-memory=200000000", f"--temp-dir={self.dir}/t"]
        log = open(os.path.join(self.dir, "head.log"), "wb")
        wd = os.path.join(self.dir, "wd")
        os.mkdir(wd)
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=wd,
                                     env=self._env(), start_new_session=True)
        log.close()
        deadline = time.monotonic() + 180
        try:
            while "Ray runtime started" not in self.logs():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("ray start failed:\n" + self.logs())
                time.sleep(0.2)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        p = self.proc
        if p is not None:
            # the group of the head we started: GCS, raylet and Ray's workers
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    p.wait(timeout=5)
                    time.sleep(0.5)  # its children end with it
                except subprocess.TimeoutExpired:
                    continue
            self.proc = None
        if self.dir:
            # Ray's workers put themselves in groups of their own: end those
            # of this head (their command lines name its directory)
            for pid in os.listdir("/proc"):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if self.dir.encode() in f.read():
                            os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
