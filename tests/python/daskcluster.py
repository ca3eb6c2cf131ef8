"""A real Dask cluster for tests: `dask scheduler` and `dask worker` processes.

    with DaskCluster(workers=2) as c:        # on this host (loopback)
        c.address                            # tcp://127.0.0.1:PORT
    with DaskCluster(workers=2, net=net):    # scheduler on net.hosts[0], one
        ...                                  # worker on each other host

Workers run in an empty directory of their own with no PYTHONPATH: they
cannot import the test's or the program's files, only what is installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def available():
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False, "dask distributed is not installed (pip install 'dask[distributed]')"
    return True, ""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin():
    return [sys.executable, "-m", "distributed.cli.dask_scheduler"], \
        [sys.executable, "-m", "distributed.cli.dask_worker"]


class DaskCluster:
    def __init__(self, workers=2, nthreads=1, net=None):
        self.nworkers, self.nthreads, self.net = workers, nthreads, net
        self.procs = []
        self.dir = None
        self.address = None

    def _env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYDRON_EXECUTOR", "PYDRON_ADDRESS")}
        env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def _popen(self, host, argv, log):
        f = open(log, "wb")
        kw = dict(stdout=f, stderr=subprocess.STDOUT, cwd=self.dir, env=self._env())
        p = host.popen(argv, **kw) if host is not None else subprocess.Popen(argv, **kw)
        f.close()
        self.procs.append(p)
        return p

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="pydron-dask-")
        sched, worker = _bin()
        port = _free_port()
        if self.net is not None:
            shost = self.net.hosts[0]
            ip = shost.ip
            whosts = [self.net.hosts[1 + i % (len(self.net.hosts) - 1)]
                      for i in range(self.nworkers)]
        else:
            shost, ip, whosts = None, "127.0.0.1", [None] * self.nworkers
        self.address = f"tcp://{ip}:{port}"
        try:
            self._popen(shost, sched + ["--host", ip, "--port", str(port), "--no-dashboard",
                                        "--no-show"], os.path.join(self.dir, "scheduler.log"))
            for i, h in enumerate(whosts):
                wip = h.ip if h is not None else "127.0.0.1"
                self._popen(h, worker + [self.address, "--nthreads", str(self.nthreads),
                                         "--host", wip, "--no-dashboard", "--name", f"w{i}",
                                         "--local-directory", self.dir],
                            os.path.join(self.dir, f"worker{i}.log"))
            self.wait_workers(self.nworkers)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def client(self):
        import distributed

        return distributed.Client(self.address, timeout=30, set_as_default=False)

    def wait_workers(self, n, timeout=60):
        import distributed

        deadline = time.monotonic() + timeout
        while True:
            try:
                with distributed.Client(self.address, timeout=10, set_as_default=False) as c:
                    c.wait_for_workers(n, timeout=max(1, deadline - time.monotonic()))
                    return
            except (OSError, TimeoutError, distributed.TimeoutError) as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Dask cluster did not start: {e}\n{self.logs()}") from e
                time.sleep(0.3)

    def logs(self):
        out = []
        for fn in sorted(os.listdir(self.dir or ".")):
            if fn.endswith(".log"):
                with open(os.path.join(self.dir, fn), errors="replace") as f:
                    out.append(f"--- {fn}\n{f.read()[-3000:]}")
        return "\n".join(out)

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False
