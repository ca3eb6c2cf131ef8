"""Lineage recovery and work placement after a worker loss (issue 14 item 4,
issue 11 "work moves to replacement workers"), with real worker processes.

A two-stage workload: stage 1 makes values too large to come back with
their completion (they stay on the worker that made them), stage 2 reads
them. One of three workers is lost while stage 2 runs: values that lived
only on it are made again from their lineage wherever a stage-2 task needs
them, jobs routed to it (or reading from it) go elsewhere uncharged, and
the result is the sequential one. Lost by SIGKILL, by SIGSTOP (noticed by
the heartbeat) and, for remote workers on other hosts (network
namespaces), by a killed worker and by a link taken down.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import descendants, require_local
from gates import hold

from pydron import _backend

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "3b9f0c7e2a6d48e1b5c4f9a0d7e2c6b1"  # 128 bits, test only
N = 60
SIZE = 64 * 1024  # > the inline limit (4 KiB): a value stays on its worker


# -- task bodies (the workers import them from this file's directory) ---------

def make(i):
    import time

    time.sleep(0.005)
    return bytes([i % 251]) * SIZE


def new_gate(tmp_path, name="go"):
    return str(tmp_path / name), time.time() + 90


def started_in(gate):
    """The pids of the processes that started a task holding on gate."""
    path, _ = gate
    d, base = os.path.split(path)
    return {int(f[len(base) + 1:]) for f in os.listdir(d) if f.startswith(base + ".")}


def wait_started(gate, pids, timeout=60):
    """Until tasks holding on gate run in every process of pids."""
    end = time.monotonic() + timeout
    while not set(pids) <= started_in(gate):
        assert time.monotonic() < end, (f"tasks did not start in {sorted(pids)} "
                                        f"(only in {sorted(started_in(gate))})")
        time.sleep(0.02)


def use(b, k, gate=None):
    import time

    if gate is not None:
        hold(gate)
    time.sleep(0.03)
    return len(b) * b[0] + k


def expected():
    return [SIZE * (i % 251) + i for i in range(N)]


def two_stage(s, lose, tmp_path, pids):
    """Stage 1 finished (values on the workers), stage 2 submitted, then
    lose() a worker while stage 2 runs (its tasks hold on a gate until
    after the loss, started on every worker of pids); returns stage 2's
    results."""
    st1 = [s.submit(make, (i,), {}) for i in range(N)]
    s.wait_all(st1)  # status only: the bytes stay where they were made
    gate = new_gate(tmp_path)
    st2 = [s.submit(use, (st1[i], i, gate), {}) for i in range(N)]
    wait_started(gate, pids)  # stage 2 is under way on every worker
    before = s.stats()["tasks_retried"]
    try:
        lose()
    finally:
        open(gate[0], "w").close()  # no stage-2 task finished before the loss
    out = [f.result(timeout=120) for f in st2]
    return out, s.stats()["tasks_retried"] - before


def local_workers(s, others, n):
    warm = [s.submit(make, (i,), {}) for i in range(2 * n)]
    s.wait_all(warm)
    ws = [p for p in descendants(os.getpid()) if p not in others]
    assert len(ws) >= n
    return ws


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_local_two_stage_loss_gives_sequential_result(how, tmp_path):
    require_local()
    others = set(descendants(os.getpid()))
    # a short heartbeat: a stopped worker is noticed after 3 s
    s = _backend.Session("local", workers=3, heartbeat_ms=200)
    ws = []
    try:
        ws = local_workers(s, others, 3)
        sig = signal.SIGKILL if how == "kill" else signal.SIGSTOP
        out, retried = two_stage(s, lambda: os.kill(ws[1], sig), tmp_path, ws[:3])
        assert out == expected()
        # values that lived on the lost worker were made again (lineage)
        assert retried >= 1
    finally:
        s.close()
        for p in ws:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


def pid_after(x, seconds, gate=None, old=()):
    """With a gate: hold on it; a process not in old (a replacement worker)
    opens it instead, so that the tasks wait until a replacement has joined
    and got work, however long it takes to start."""
    import os
    import time

    if gate is not None:
        if os.getpid() in old:
            hold(gate)
        else:
            open(gate[0], "w").close()
    time.sleep(seconds)
    return os.getpid(), x


def test_replacement_worker_gets_work_and_survivors_share_the_rest(tmp_path):
    """Before: after a loss the replacement got no work and the lost
    worker's queue went to one survivor. Now the core gives the lost slot
    nothing until its replacement is there, then sends it work."""
    require_local()
    others = set(descendants(os.getpid()))
    s = _backend.Session("local", workers=3, heartbeat_ms=200)
    try:
        ws = local_workers(s, others, 3)
        # the tasks hold until a replacement runs one (or the gate's 90 s
        # deadline: then the replacement got nothing and the test fails)
        gate = new_gate(tmp_path)
        fs = [s.submit(pid_after, (i, 0.2, gate, tuple(ws)), {}) for i in range(45)]
        wait_started(gate, ws[:1])  # the worker to kill has work under way
        os.kill(ws[0], signal.SIGKILL)
        out = [f.result(timeout=120) for f in fs]
        assert [x for _, x in out] == list(range(45))
        ran = {}
        for pid, _ in out:
            ran[pid] = ran.get(pid, 0) + 1
        new = [p for p in ran if p not in ws]
        assert new, f"the replacement ran nothing: {ran}"
        # the survivors shared the lost worker's tasks: neither took them all
        assert ran.get(ws[1], 0) < 30 and ran.get(ws[2], 0) < 30, ran
    finally:
        s.close()


# -- remote workers on other hosts (network namespaces) ----------------------

def nethosts():
    from nethosts import NetHosts

    ok, why = NetHosts.available()
    if not ok:
        pytest.skip(why)
    return NetHosts


def free_port():
    with socket.socket() as so:
        so.bind(("0.0.0.0", 0))
        return so.getsockname()[1]


def start_remote(net, n, hb_ms=200, **kw):
    """A remote session listening on the test's address and one worker on
    each of n hosts."""
    url = f"tcp://{net.driver_ip}:{free_port()}"
    env = dict(os.environ, PYDRON_SECRET=SECRET)
    procs = []

    def launch():
        time.sleep(0.3)
        for h in net.hosts[:n]:
            procs.append(h.popen([sys.executable, "-m", "pydron.worker", "--connect", url,
                                  "--path", HERE], env=env))

    t = threading.Thread(target=launch)
    t.start()
    try:
        s = _backend.Session("remote", workers=n, address=url, secret=SECRET,
                             heartbeat_ms=hb_ms, **kw)
    finally:
        t.join()
    return s, procs


def host_worker_pid(h):
    """The pydron worker process in host h's namespace."""
    for pid in h.pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"pydron.worker" in f.read():
                    return pid
        except OSError:
            pass
    raise AssertionError(f"no worker on {h}")


@pytest.mark.parametrize("how", ["kill", "link_down"])
def test_remote_two_stage_loss_of_a_host_gives_sequential_result(how, tmp_path):
    NetHosts = nethosts()
    with NetHosts(3) as net:
        s, procs = start_remote(net, 3)
        try:
            s.wait_all([s.submit(make, (i,), {}) for i in range(6)])
            victim = net.hosts[1]
            pids = [host_worker_pid(h) for h in net.hosts[:3]]
            if how == "kill":
                pid = pids[1]
                lose = lambda: os.kill(pid, signal.SIGKILL)  # noqa: E731
            else:
                lose = lambda: net.link_down(1)  # noqa: E731
            out, retried = two_stage(s, lose, tmp_path, pids)
            assert out == expected()
            assert retried >= 1
        finally:
            s.close()
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
