"""pydron's Dask executor against plain Dask on the same cluster, same run.

    python benchmarks/bench_dask_executor.py [--address tcp://host:8786] [--tiny N]

Without --address it starts a local cluster (`dask scheduler` and one
one-thread `dask worker` per core). Prints, for each workload, the seconds,
the rate and the ratio pydron-on-Dask / plain Dask (below 1: pydron is
faster):

* tiny tasks: N calls of `x + 1` in a loop (pydron: @functional in a
  @schedule loop, the results summed; plain Dask: client.submit per call, then
  gather, the way a user writes it, and client.map as its best case);
* 16 x 0.5 s of CPU work (a busy loop), the speedup over running them one
  after the other.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import pydron
from pydron import functional, schedule

BURN_S = 0.5
NBURN = 16


def inc(x):
    return x + 1


def burn(i, seconds=BURN_S):
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:
        n += 1
    return i


p_inc = functional(inc)
p_burn = functional(burn)


@schedule
def tiny(n):
    out = []
    for i in range(n):
        out.append(p_inc(i))
    return sum(out)


@schedule
def cpu(n):
    out = []
    for i in range(n):
        out.append(p_burn(i))
    return out


def start_cluster(nworkers):
    d = tempfile.mkdtemp(prefix="bench-dask-")
    port = 8700 + os.getpid() % 100
    addr = f"tcp://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              cwd=d, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", addr,
                                   "--nworkers", str(nworkers), "--nthreads", "1",
                                   "--no-dashboard", "--local-directory", d],
                                  cwd=d, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL))
    return addr, procs


def timed(fn, *a):
    t = time.perf_counter()
    r = fn(*a)
    return time.perf_counter() - t, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address")
    ap.add_argument("--tiny", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    procs = []
    addr = args.address
    if not addr:
        addr, procs = start_cluster(args.workers)
    import distributed

    try:
        client = distributed.Client(addr, timeout=60, set_as_default=False)
        client.wait_for_workers(1 if args.address else args.workers, timeout=120)
        nthreads = sum(client.nthreads().values())
        print(f"cluster {addr}: {len(client.nthreads())} workers, {nthreads} threads; "
              f"{os.cpu_count()} cores here; load {os.getloadavg()[0]:.1f}")
        pydron.configure(executor="dask", client=client)
        n = args.tiny
        want = sum(range(1, n + 1))
        tiny(200)  # warm up: connect, ship code, learn durations

        t_p, r = timed(tiny, n)
        assert r == want, r

        def dask_submit(n):
            futs = [client.submit(inc, i, pure=False) for i in range(n)]
            return sum(client.gather(futs))

        def dask_map(n):
            return sum(client.gather(client.map(inc, range(n), pure=False)))

        dask_submit(200)
        t_s, r = timed(dask_submit, n)
        assert r == want
        t_m, r = timed(dask_map, n)
        assert r == want
        print(f"\ntiny tasks ({n} calls of x + 1)")
        print(f"  pydron executor=dask   {t_p:7.2f} s  {n / t_p:9.0f} tasks/s")
        print(f"  dask submit + gather   {t_s:7.2f} s  {n / t_s:9.0f} tasks/s   "
              f"pydron/dask = {t_p / t_s:.2f}")
        print(f"  dask map + gather      {t_m:7.2f} s  {n / t_m:9.0f} tasks/s   "
              f"pydron/dask = {t_p / t_m:.2f}")
        st = pydron.stats()
        print(f"  (pydron sent {st.get('tasks', '?')} Dask tasks for the "
              f"{n + 200} calls of both runs: adaptive batching)")

        t_seq, _ = timed(burn, 0)
        t_p, r = timed(cpu, NBURN)
        assert r == list(range(NBURN))
        t_d, r = timed(lambda: client.gather(client.map(burn, range(NBURN), pure=False)))
        assert r == list(range(NBURN))
        seq = NBURN * t_seq
        print(f"\n{NBURN} x {BURN_S} s CPU (sequential {seq:.2f} s, measured one task)")
        print(f"  pydron executor=dask   {t_p:7.2f} s  speedup {seq / t_p:5.2f}x")
        print(f"  dask map + gather      {t_d:7.2f} s  speedup {seq / t_d:5.2f}x   "
              f"pydron/dask = {t_p / t_d:.2f}")
        from pydron import _backend

        _backend.shutdown()  # the Dask session ends here
        pydron.config.reset()
        client.close()
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
