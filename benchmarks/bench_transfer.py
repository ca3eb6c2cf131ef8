"""One large value from a worker on one host to a task on another (issue 14
item 7), against a plain TCP copy of the same bytes between the same two
network namespace hosts, measured in one run. Needs root and `ip netns`
(tests/python/nethosts.py); from the repository root:

    sudo nice -n 10 python benchmarks/bench_transfer.py [--mb 1,10,50,200] [--repeat 5] [--dask]

For each size, the median of --repeat runs of:
  - tcp: a Python sender on host 1 writes the bytes to a receiver on host 2
    (1 MB recv calls), from the first byte received to the last;
  - pydron: two remote workers, on hosts 1 and 2. Two producers each make a
    value of the size (a tuple holding `bytes`), placed by the random policy;
    one consumer reads both, so it runs on the host of one of them and the
    other value travels. Timed from the consumer's submit to its completion,
    only runs whose producers were on different hosts count as "host to
    host"; runs where both happened to be on one worker are printed as
    "local" (the same task without the move; often none);
  - dask (--dask): the same value made on a worker pinned to host 1 and read
    by a task pinned to host 2.

Prints `BENCH <name> <seconds> s` lines and a Markdown table with the ratio
of pydron's host-to-host time to the TCP copy.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

from nethosts import NetHosts  # noqa: E402

from pydron import _backend  # noqa: E402

SECRET = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e"


def bench(name, value, unit="s"):
    print(f"BENCH {name} {value:.6g} {unit}", flush=True)


# -- task bodies (shipped by value: this file is __main__) -----------------------------

def tiny(x):
    return x + 1


def produce(nbytes, tag):
    return (os.getpid(), tag, b"\x07" * nbytes)


def consume(a):
    return os.getpid(), a[0], len(a[2])


def consume2(a, b):
    return os.getpid(), a[0], b[0], len(a[2]) + len(b[2])


# -- plain TCP copy ----------------------------------------------------------------------

RECV = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("ready", flush=True)
while True:
    c, _ = s.accept(); n = 0; t0 = None
    while True:
        b = c.recv(1 << 20)
        if t0 is None: t0 = time.perf_counter()
        if not b: break
        n += len(b)
    c.close()
    print(n, time.perf_counter() - t0, flush=True)
"""
SEND = r"""
import socket, sys
data = b"\x07" * int(sys.argv[3])
for _ in range(int(sys.argv[4])):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    s.sendall(data); s.close()
"""


def tcp_copy(net, nbytes, repeat):
    a, b = net.hosts[1], net.hosts[2]
    port = 47000 + os.getpid() % 1000
    rp = b.popen([sys.executable, "-c", RECV, b.ip, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert rp.stdout.readline().strip() == "ready"
        a.run([sys.executable, "-c", SEND, b.ip, str(port), str(nbytes), str(repeat)],
              timeout=600, check=True)
        times = []
        for _ in range(repeat):
            n, secs = rp.stdout.readline().split()
            assert int(n) == nbytes
            times.append(float(secs))
        return times
    finally:
        rp.kill()
        rp.wait()


# -- pydron -------------------------------------------------------------------------------

def free_port():
    import socket
    with socket.socket() as so:
        so.bind(("0.0.0.0", 0))
        return so.getsockname()[1]


def pydron_times(net, sizes, repeat):
    url = f"tcp://{net.driver_ip}:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYDRON_")}
    env["PYDRON_SECRET"] = SECRET
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    for k in ("PYDRON_TRACE", "PYDRON_LOG"):
        if k in os.environ:
            env[k] = os.environ[k]
    procs = [h.popen([sys.executable, "-m", "pydron.worker", "--connect", url], env=env,
                     stderr=None if os.environ.get("BENCH_WORKER_STDERR") else subprocess.DEVNULL)
             for h in net.hosts[1:3]]
    out = {}
    try:
        s = _backend.Session("remote", workers=2, address=url, secret=SECRET, policy="random")
        try:
            s.wait_all([s.submit(tiny, (i,), {}) for i in range(50)])
            for nb in sizes:
                far, near = [], []
                for _ in range(4 * repeat):
                    a = s.submit(produce, (nb, "a"), {})
                    b = s.submit(produce, (nb, "b"), {})
                    s.wait_all([a, b])
                    t0 = time.perf_counter()
                    f = s.submit(consume2, (a, b), {})
                    s.wait_all([f])
                    dt = time.perf_counter() - t0
                    pid, pa, pb, n = f.result()
                    assert n == 2 * nb
                    (far if pa != pb else near).append(dt)
                    del a, b, f
                    if len(far) >= repeat:
                        break
                out[nb] = far, near
        finally:
            s.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    return out


# -- Dask ---------------------------------------------------------------------------------

def dask_times(net, sizes, repeat):
    import daskcluster
    ok, why = daskcluster.available()
    if not ok:
        print(f"SKIP dask: {why}", flush=True)
        return {}
    out = {}
    with daskcluster.DaskCluster(workers=2, net=net) as c:
        with c.client() as client:
            ws = client.scheduler_info()["workers"]
            w1 = [w for w in ws if f"//{net.hosts[1].ip}:" in w]
            w2 = [w for w in ws if f"//{net.hosts[2].ip}:" in w]
            for nb in sizes:
                times = []
                for _ in range(repeat):
                    a = client.submit(produce, nb, "a", workers=w1, pure=False)
                    client.submit(consume, a, workers=w1, pure=False).result()  # a made, on w1
                    t0 = time.perf_counter()
                    r = client.submit(consume, a, workers=w2, pure=False).result()
                    times.append(time.perf_counter() - t0)
                    assert r[2] == nb and r[0] != r[1]
                    del a
                out[nb] = times
    return out


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x):
    return "n/a" if x is None else f"{x:.3f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", default="1,10,50,200", help="sizes in MB, comma-separated")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dask", action="store_true", help="Dask distributed too")
    ap.add_argument("--only", choices=("tcp", "pydron"), help="one side only")
    args = ap.parse_args()
    sizes = [int(float(x) * (1 << 20)) for x in args.mb.split(",")]
    ok, why = NetHosts.available()
    if not ok:
        print(f"SKIP bench_transfer: {why}")
        return
    load0 = os.getloadavg()[0]
    with NetHosts(3) as net:
        tcp = {}
        if args.only in (None, "tcp"):
            for nb in sizes:
                tcp[nb] = tcp_copy(net, nb, args.repeat)
                bench(f"tcp_copy_{nb >> 20}MB", med(tcp[nb]))
        py = pydron_times(net, sizes, args.repeat) if args.only in (None, "pydron") else {}
        for nb, (far, near) in py.items():
            bench(f"pydron_{nb >> 20}MB_host_to_host", med(far) or float("nan"))
            bench(f"pydron_{nb >> 20}MB_local", med(near) or float("nan"))
        dk = dask_times(net, sizes, args.repeat) if args.dask else {}
        for nb, t in dk.items():
            bench(f"dask_{nb >> 20}MB_host_to_host", med(t))
    load1 = os.getloadavg()[0]
    print(f"\n{os.cpu_count()} cores; load average {load0:.1f} at the start, {load1:.1f} at the end;"
          f" medians of {args.repeat}")
    print("\n| MB | TCP copy (s) | pydron host to host (s) | pydron local (s) | Dask (s) | pydron / TCP |")
    print("|---|---|---|---|---|---|")
    for nb in sizes:
        t = med(tcp.get(nb, []))
        far, near = py.get(nb, ([], []))
        p = med(far)
        ratio = f"{p / t:.2f}x" if p and t else "n/a"
        print(f"| {nb >> 20} | {fmt(t)} | {fmt(p)} | {fmt(med(near))} | {fmt(med(dk.get(nb, [])))} "
              f"| {ratio} |")


if __name__ == "__main__":
    main()
