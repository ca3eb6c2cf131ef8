"""pydron's remote executor against Dask distributed on the same network
namespaces, in one run (issue 14 item 7). Needs root, `ip netns`
(tests/python/nethosts.py) and dask[distributed]; from the repository root:

    sudo python benchmarks/bench_cluster_vs_dask.py [--quick]

Four namespace hosts: host 0 runs Dask's scheduler, hosts 1-3 the workers of
both systems (round robin; pydron's driver and Dask's client run in the root
namespace). Prints `BENCH <name> <value> <unit>` lines, then a Markdown table
(docs/cluster.md, "Measured"):

  - tiny tasks per second with 1, 4, 16 and 32 workers (pydron: Session.submit
    in a loop, then wait; Dask: client.map + gather, its best case);
  - 16 x 0.5 s of CPU (a busy loop on process time) with 4 workers: speedup
    over one task's wall time x 16, measured in the same run;
  - a 50 MB value made on host 1 and read by a task on host 2, against a plain
    TCP copy of 50 MB between the same two hosts (the link's bandwidth);
  - a two-stage workload (stage 2 reads stage 1's values) on 3 workers, one per
    host, losing host 3 in stage 2 (its processes killed, or its link taken
    down): seconds until the loss is noticed (pydron: the driver's "worker N
    lost" line; Dask: the scheduler's worker count), and the workload's time
    against a run without loss. The result is checked every time.

--quick: 1 and 4 workers, few tasks, a 5 MB value, loss by kill only; a smoke
run of the whole harness, not a measurement.
"""

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import daskcluster  # noqa: E402
from nethosts import NetHosts  # noqa: E402

from pydron import _backend  # noqa: E402

SECRET = "5b0c9e7d2a4f48e1b6c3d8a0f7e2c4b9"
ROWS = []  # (figure, pydron, dask, note)


def bench(name, value, unit):
    print(f"BENCH {name} {value:.6g} {unit}", flush=True)


def row(figure, p, d, note=""):
    ROWS.append((figure, p, d, note))


# -- task bodies (shipped by value: this file is __main__) -------------------------

def tiny(x):
    return x + 1


def burn(i, seconds=0.5):
    # this thread's CPU time: a Dask worker's other threads use CPU too
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return i


def produce(nbytes, tag):
    return (os.getpid(), tag, b"\x07" * nbytes)


def ready(a):
    return 0


def consume2(a, b):
    return os.getpid(), a[0], b[0], len(a[2]) + len(b[2])


def consume(a):
    return os.getpid(), a[0], len(a[2])


def stage1(i, nbytes=1 << 20, seconds=0.25):
    time.sleep(seconds)
    return bytes([i % 251]) * nbytes


def stage2(x, seconds=0.25):
    time.sleep(seconds)
    return x[0] + len(x)


def two_stage_expected(n):
    return [i % 251 + (1 << 20) for i in range(n)]


# -- pydron ----------------------------------------------------------------------------

def free_port():
    with socket.socket() as so:
        so.bind(("0.0.0.0", 0))
        return so.getsockname()[1]


def worker_hosts(net, n):
    return [net.hosts[1 + i % (len(net.hosts) - 1)] for i in range(n)]


def pydron_start(net, n, **kw):
    url = f"tcp://{net.driver_ip}:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYDRON_")}
    env["PYDRON_SECRET"] = SECRET
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    procs = [h.popen([sys.executable, "-m", "pydron.worker", "--connect", url], env=env,
                     stderr=subprocess.DEVNULL) for h in worker_hosts(net, n)]
    try:
        s = _backend.Session("remote", workers=n, address=url, secret=SECRET, **kw)
    except BaseException:
        stop_procs(procs)
        raise
    return s, procs


def stop_procs(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def pydron_stop(s, procs):
    try:
        s.close()
    finally:
        stop_procs(procs)


def pydron_rate(s, ntasks):
    s.wait_all([s.submit(tiny, (i,), {}) for i in range(200)])  # warm: function shipped
    t0 = time.perf_counter()
    fs = [s.submit(tiny, (i,), {}) for i in range(ntasks)]
    s.wait_all(fs)
    dt = time.perf_counter() - t0
    assert [f.result() for f in fs[:3]] == [1, 2, 3] and fs[-1].result() == ntasks
    return ntasks / dt


# -- Dask -------------------------------------------------------------------------------

class Dask(daskcluster.DaskCluster):
    """The tests' cluster, with more patience: 32 workers starting on two busy
    cores take longer than a test's minute."""

    def wait_workers(self, n, timeout=600):
        return super().wait_workers(n, timeout=timeout)


def dask_rate(client, ntasks):
    client.gather(client.map(tiny, range(200), pure=False))
    t0 = time.perf_counter()
    r = client.gather(client.map(tiny, range(ntasks), pure=False))
    dt = time.perf_counter() - t0
    assert r[:3] == [1, 2, 3] and r[-1] == ntasks
    return ntasks / dt


# -- throughput and CPU -----------------------------------------------------------------

def throughput(net, args):
    for n in args.workers:
        s, procs = pydron_start(net, n)
        try:
            pr = pydron_rate(s, args.tasks)
            bench(f"pydron_tiny_tasks_per_s_{n}w", pr, "tasks/s")
            if n == 4:
                pc = cpu(lambda k: s.wait_all(fs := [s.submit(burn, (i,), {}) for i in range(k)])
                         or [f.result() for f in fs])
                bench("pydron_cpu_16x0.5s_speedup_4w", pc, "x")
        finally:
            pydron_stop(s, procs)
        with Dask(workers=n, net=net) as c:
            with c.client() as client:
                dr = dask_rate(client, args.dask_tasks)
                bench(f"dask_tiny_tasks_per_s_{n}w", dr, "tasks/s")
                if n == 4:
                    dc = cpu(lambda k: client.gather(client.map(burn, range(k), pure=False)))
                    bench("dask_cpu_16x0.5s_speedup_4w", dc, "x")
        note = "2 cores: oversubscribed" if n > 2 else ""
        row(f"tiny tasks/s, {n} worker{'s' if n > 1 else ''}", f"{pr:,.0f}", f"{dr:,.0f}",
            f"{pr / dr:.0f}x; {note}" if note else f"{pr / dr:.0f}x")
        if n == 4:
            row("16 x 0.5 s CPU, 4 workers: speedup", f"{pc:.2f}x", f"{dc:.2f}x",
                "2 cores: at most 2x when quiet; on a loaded machine more processes "
                "get more of its CPU than the one-task baseline did")


def cpu(run):
    t = time.perf_counter()
    burn(0)
    one = time.perf_counter() - t
    t = time.perf_counter()
    r = run(16)
    dt = time.perf_counter() - t
    assert list(r) == list(range(16)), r
    return 16 * one / dt


# -- a large value between hosts ---------------------------------------------------------

RECV = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); n = 0; t0 = None
while True:
    b = c.recv(1 << 20)
    if t0 is None: t0 = time.perf_counter()
    if not b: break
    n += len(b)
print(n, time.perf_counter() - t0, flush=True)
"""
SEND = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"\x07" * int(sys.argv[3])); s.close()
"""


def socket_copy(net, nbytes):
    a, b = net.hosts[1], net.hosts[2]
    port = 47000 + os.getpid() % 1000
    rp = b.popen([sys.executable, "-c", RECV, b.ip, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert rp.stdout.readline().strip() == "ready"
        a.run([sys.executable, "-c", SEND, b.ip, str(port), str(nbytes)], timeout=120, check=True)
        n, secs = rp.stdout.readline().split()
        assert int(n) == nbytes
        return float(secs)
    finally:
        stop_procs([rp])


def big_value(net, args):
    nb = args.mb << 20
    mb = args.mb
    copy = socket_copy(net, nb)
    bench(f"socket_copy_{mb}MB", copy, "s")
    # pydron: two workers, on hosts 1 and 2. A task runs where its large
    # inputs are, so the consumer reads two values of the same size, made by
    # producers that the random policy placed on different hosts (only those
    # runs count): one of the two travels
    s, procs = pydron_start(net, 2, policy="random")
    try:
        s.wait_all([s.submit(tiny, (i,), {}) for i in range(50)])
        times = []
        for _ in range(8 * args.repeat):
            a = s.submit(produce, (nb, "a"), {})
            b = s.submit(produce, (nb, "b"), {})
            s.wait_all([a, b])
            t0 = time.perf_counter()
            f = s.submit(consume2, (a, b), {})
            s.wait_all([f])
            dt = time.perf_counter() - t0
            pid, pa, pb, n = f.result()
            assert n == 2 * nb
            if pa != pb:  # made on two hosts: one travelled
                times.append(dt)
            del a, b, f
            if len(times) >= args.repeat:
                break
        pt = min(times) if times else None
    finally:
        pydron_stop(s, procs)
    if pt is None:
        print("SKIP pydron big value: the producers always ran on one worker", flush=True)
    else:
        bench(f"pydron_value_{mb}MB_host_to_host", pt, "s")
    # Dask: pinned to the same hosts
    with Dask(workers=2, net=net) as c:
        with c.client() as client:
            ws = client.scheduler_info()["workers"]
            w1 = [w for w in ws if f"//{net.hosts[1].ip}:" in w]
            w2 = [w for w in ws if f"//{net.hosts[2].ip}:" in w]
            best = None
            for _ in range(args.repeat):
                a = client.submit(produce, nb, "a", workers=w1, pure=False)
                client.submit(ready, a, workers=w1, pure=False).result()  # a made, stays on w1
                t0 = time.perf_counter()
                f = client.submit(consume, a, workers=w2, pure=False)
                r = f.result()
                dt = time.perf_counter() - t0
                assert r[2] == nb and r[0] != r[1]
                best = dt if best is None else min(best, dt)
                del a, f
            dt = best
            bench(f"dask_value_{mb}MB_host_to_host", dt, "s")
    row(f"{mb} MB value, host 1 -> task on host 2 (s)",
        "n/a" if pt is None else f"{pt:.2f}", f"{dt:.2f}",
        f"plain TCP copy {copy:.2f} s ({nb / copy / 1e6:,.0f} MB/s)")


# -- losing a host -----------------------------------------------------------------------

class StderrWatch:
    """The driver logs to fd 2: lines with the time they came."""

    def __enter__(self):
        r, w = os.pipe()
        self.saved = os.dup(2)
        os.dup2(w, 2)
        os.close(w)
        self.lines = []
        self.t = threading.Thread(target=self._read, args=(r,), daemon=True)
        self.t.start()
        return self

    def _read(self, r):
        for ln in os.fdopen(r, "rb"):
            self.lines.append((time.monotonic(), ln))
            os.write(self.saved, ln)

    def first(self, t0, *words):
        for t, ln in list(self.lines):
            if t >= t0 and all(w in ln for w in words):
                return t
        return None

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


def lose(net, how, i):
    if how == "killed":
        for pid in net.hosts[i].pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    else:
        net.link_down(i)


def pydron_two_stage(net, n, how, cap):
    """(seconds of the workload, seconds to notice the loss or None)."""
    with StderrWatch() as watch:
        s, procs = pydron_start(net, 3)
        try:
            s.wait_all([s.submit(tiny, (i,), {}) for i in range(30)])
            t_start = time.perf_counter()
            one = [s.submit(stage1, (i,), {}) for i in range(n)]
            two = [s.submit(stage2, (f,), {}) for f in one]
            del one
            s.wait_all(two[: n // 2])  # stage 2 under way, stage 1's values on every host
            t_lost = detected = None
            if how:
                t_lost = time.monotonic()
                lose(net, how, 3)
            s.wait_all(two)
            dt = time.perf_counter() - t_start
            assert [f.result() for f in two] == two_stage_expected(n)
            if how:
                deadline = time.monotonic() + cap
                while detected is None and time.monotonic() < deadline:
                    detected = watch.first(t_lost, b"worker", b"lost")
                    time.sleep(0.01)
                detected = None if detected is None else detected - t_lost
        finally:
            pydron_stop(s, procs)
            if how == "link_down":
                net.link_up(3)
    return dt, detected


def dask_two_stage(net, n, how, cap):
    with Dask(workers=3, net=net) as c:
        with c.client() as client:
            client.gather(client.map(tiny, range(30), pure=False))
            nworkers = len(client.scheduler_info()["workers"])
            t_start = time.perf_counter()
            one = client.map(stage1, range(n), pure=False)
            two = client.map(stage2, one, pure=False)
            del one
            client.gather(two[: n // 2])
            detected = []
            if how:
                t_lost = time.monotonic()
                lose(net, how, 3)

                def poll():
                    end = time.monotonic() + cap
                    while time.monotonic() < end:
                        try:
                            if len(client.scheduler_info()["workers"]) < nworkers:
                                detected.append(time.monotonic() - t_lost)
                                return
                        except Exception:  # noqa: BLE001 - retried
                            pass
                        time.sleep(0.05)

                th = threading.Thread(target=poll, daemon=True)
                th.start()
            res = client.gather(two)
            dt = time.perf_counter() - t_start
            assert res == two_stage_expected(n)
            if how:
                th.join(cap)
    if how == "link_down":
        net.link_up(3)
    return dt, (detected[0] if detected else None)


def losses(net, args):
    n = args.stage
    base_p, _ = pydron_two_stage(net, n, None, 0)
    base_d, _ = dask_two_stage(net, n, None, 0)
    bench("pydron_two_stage_no_loss", base_p, "s")
    bench("dask_two_stage_no_loss", base_d, "s")
    row(f"two stages x {n} tasks of 0.25 s, 3 workers, no loss (s)",
        f"{base_p:.1f}", f"{base_d:.1f}", "")
    for how in args.lose:
        tp, dp = pydron_two_stage(net, n, how, args.cap)
        td, dd = dask_two_stage(net, n, how, args.cap)
        for sysname, t, d in (("pydron", tp, dp), ("dask", td, dd)):
            bench(f"{sysname}_two_stage_host_{how}", t, "s")
            if d is None:
                print(f"SKIP {sysname}_detect_host_{how}: not noticed in {args.cap} s", flush=True)
            else:
                bench(f"{sysname}_detect_host_{how}", d, "s")

        def f(x):
            return "not seen" if x is None else f"{x:.1f}"

        row(f"host {how.replace('_', ' ')}: loss noticed after (s)", f(dp), f(dd),
            "the connection resets" if how == "killed" else
            "silence: pydron's default heartbeat (1 s, lost after 10 s), Dask's defaults")
        row(f"host {how.replace('_', ' ')}: two-stage workload done in (s)",
            f"{tp:.1f}", f"{td:.1f}", "result checked")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a short smoke run")
    ap.add_argument("--only", choices=("throughput", "value", "loss"))
    args = ap.parse_args()
    if args.quick:
        args.workers, args.tasks, args.dask_tasks = [1, 4], 2000, 300
        args.mb, args.repeat, args.stage, args.lose, args.cap = 5, 1, 6, ["killed"], 60
    else:
        args.workers, args.tasks, args.dask_tasks = [1, 4, 16, 32], 20000, 1000
        args.mb, args.repeat, args.stage, args.lose, args.cap = 50, 3, 24, ["killed", "link_down"], 240
    ok, why = NetHosts.available()
    if ok:
        ok, why = daskcluster.available()
    if not ok:
        print(f"SKIP bench_cluster_vs_dask: {why}")
        return
    t0 = time.monotonic()
    load0 = os.getloadavg()
    with NetHosts(4) as net:
        if args.only in (None, "throughput"):
            throughput(net, args)
        if args.only in (None, "value"):
            big_value(net, args)
        if args.only in (None, "loss"):
            losses(net, args)
    load1 = os.getloadavg()
    print(f"\n{os.cpu_count()} cores; load average {load0[0]:.1f} at the start, "
          f"{load1[0]:.1f} at the end; {time.monotonic() - t0:.0f} s in all")
    print("\n| figure | pydron | Dask | note |\n|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
