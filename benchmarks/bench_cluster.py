"""Remote workers on other hosts (network namespaces with a link delay).
Prints `BENCH <name> <value> <unit>` lines. Needs root and `ip netns`
(tests/python/nethosts.py); run from the repository root:

    sudo python benchmarks/bench_cluster.py [--tasks 20000] [--delays 2,20]

Figures:
  - tiny tasks per second through the remote executor with 1 and 3 workers
    (one per host) over links delayed by 2 ms and 20 ms one way, with the
    in-flight window measured (the default) and fixed at 64 (the old
    default), in the same run;
  - the window each worker settled on;
  - time from losing a host (worker killed; link taken down) to the driver
    logging the loss, with the default heartbeat (1 s) and with 0.2 s.
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

from nethosts import NetHosts  # noqa: E402

from pydron import _backend  # noqa: E402

SECRET = "8d1e6f0a3c5b47e2a9f4c7d0b2e8a6f1"


def bench(name, value, unit):
    print(f"BENCH {name} {value:.6g} {unit}", flush=True)


def tiny(x):
    return x + 1


def free_port():
    with socket.socket() as so:
        so.bind(("0.0.0.0", 0))
        return so.getsockname()[1]


def start(net, n, **kw):
    url = f"tcp://{net.driver_ip}:{free_port()}"
    env = dict(os.environ, PYDRON_SECRET=SECRET,
               PYTHONPATH=os.pathsep.join([HERE] + sys.path))
    procs = []

    def launch():
        time.sleep(0.3)
        for h in net.hosts[:n]:
            procs.append(h.popen([sys.executable, "-m", "pydron.worker", "--connect", url,
                                  "--path", HERE], env=env, stderr=subprocess.DEVNULL))

    t = threading.Thread(target=launch)
    t.start()
    try:
        s = _backend.Session("remote", workers=n, address=url, secret=SECRET, **kw)
    finally:
        t.join()
    return s, procs


def stop(s, procs):
    s.close()
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def rate(s, ntasks):
    s.wait_all([s.submit(tiny, (i,), {}) for i in range(200)])  # warm: functions shipped
    t0 = time.perf_counter()
    fs = [s.submit(tiny, (i,), {}) for i in range(ntasks)]
    s.wait_all(fs)
    dt = time.perf_counter() - t0
    assert [f.result() for f in fs[:5]] == [1, 2, 3, 4, 5]
    return ntasks / dt


def throughput(args):
    for delay in args.delays:
        with NetHosts(3, delay_ms=delay) as net:
            for n in (1, 3):
                for label, kw in (("measured", {}), ("fixed64", {"window": 64})):
                    s, procs = start(net, n, **kw)
                    try:
                        r = rate(s, args.tasks)
                        bench(f"tiny_tasks_per_s_{n}w_{delay:g}ms_{label}", r, "tasks/s")
                        if label == "measured":
                            wins = [s._rt.window(i)[0] for i in range(n)]
                            bench(f"window_{n}w_{delay:g}ms", sum(wins) / len(wins), "jobs")
                    finally:
                        stop(s, procs)


def detect(args):
    """Seconds from a host's loss to the driver's 'worker N lost' line."""
    for hb in (1000, 200):
        for how in ("killed", "link_down"):
            with NetHosts(2) as net:
                r, w = os.pipe()
                saved = os.dup(2)
                os.dup2(w, 2)  # the driver logs to stderr: read it here
                os.close(w)
                lines = []
                reader = threading.Thread(target=lambda: lines.extend(
                    (time.monotonic(), ln) for ln in os.fdopen(r, "rb")))
                reader.daemon = True
                reader.start()
                try:
                    s, procs = start(net, 2, heartbeat_ms=hb)
                    s.wait_all([s.submit(tiny, (i,), {}) for i in range(50)])
                    t0 = time.monotonic()
                    if how == "killed":
                        for pid in net.hosts[1].pids():
                            os.kill(pid, 9)
                    else:
                        net.link_down(1)
                    deadline = t0 + 120
                    t_lost = None
                    while time.monotonic() < deadline and t_lost is None:
                        time.sleep(0.01)
                        for t, ln in list(lines):
                            if b"lost" in ln and b"worker" in ln and t >= t0:
                                t_lost = t
                    stop(s, procs)
                finally:
                    os.dup2(saved, 2)
                    os.close(saved)
                if t_lost is None:
                    print(f"SKIP detect_{how}_hb{hb}ms: no loss logged in 120 s", flush=True)
                else:
                    bench(f"detect_lost_host_{how}_hb{hb}ms", t_lost - t0, "s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--delays", default="2,20")
    ap.add_argument("--only", choices=("throughput", "detect"))
    args = ap.parse_args()
    args.delays = [float(x) for x in args.delays.split(",")]
    ok, why = NetHosts.available()
    if not ok:
        print(f"SKIP bench_cluster: {why}")
        return
    if args.only != "detect":
        throughput(args)
    if args.only != "throughput":
        detect(args)


if __name__ == "__main__":
    main()
