"""The Python systems of the harness, one sweep per process:

    python -m pydron.bench.peers SYSTEM GRAPH.json --workers N --durations D,D,...

runs the task graph in GRAPH.json (written by pydron.bench) on SYSTEM once
per task duration, from the first (coarsest) on, and prints one JSON line
per point. It stops early once a point's efficiency falls below --stop (the
finer ones only get worse) or a point took longer than --max-seconds.

Every system runs the same Python task: it spins (or sleeps) for the task's
duration and returns `out_bytes` bytes whose first 8 are a digest of its
inputs' digests, so the sinks' digests prove that every edge was followed;
all systems must print the same "digest".

Systems (a peer that is not installed prints a line with "skip"):
  sequential    a plain loop in this process (1 core)
  pydron-python @functional tasks called from a @schedule function, on the
                local executor (worker processes): what a pydron user writes
  processpool   concurrent.futures.ProcessPoolExecutor, each task submitted
                when its inputs are done
  joblib        joblib.Parallel (loky processes) one level of the graph at a
                time: joblib has no task graphs, so a level waits for the last
  dask          dask.distributed LocalCluster (processes, 1 thread each), the
                whole graph given to client.get
  ray           ray.remote tasks with object refs as inputs (ray.init here)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from pydron import functional, schedule

MASK = (1 << 64) - 1


def kernel(duration, out_bytes, seed, sleep, *inputs):
    """The task: take `duration` seconds (spinning, or sleeping if `sleep`),
    return out_bytes bytes starting with a digest of the inputs."""
    if sleep:
        time.sleep(duration)
    else:
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            pass
    d = (seed * 0x9E3779B97F4A7C15 + 1) & MASK
    for x in inputs:
        d = ((d ^ int.from_bytes(bytes(x[:8]), "little")) * 0x100000001B3) & MASK
    head = d.to_bytes(8, "little")
    return head[:out_bytes] + bytes(max(0, out_bytes - 8))


def digest_of(outs) -> str:
    d = 0
    for x in outs:
        d = ((d ^ int.from_bytes(bytes(x[:8]), "little")) * 0x100000001B3) & MASK
    return "%016x" % d


def _noop(x=None):
    return x


# ---------------------------------------------------------------- systems

def run_sequential(tasks, sinks, sleep, workers):
    vals = []
    for i, (d, b, deps) in enumerate(tasks):
        vals.append(kernel(d, b, i, sleep, *[vals[k] for k in deps]))
    return [vals[k] for k in sinks]


_ptask = functional(kernel)


@schedule
def _pydron_graph(tasks, sinks, sleep):
    vals = []
    for i, (d, b, deps) in enumerate(tasks):
        vals.append(_ptask(d, b, i, sleep, *[vals[k] for k in deps]))
    return [vals[k] for k in sinks]


class PydronPython:
    def __init__(self, workers, policy=None):
        import pydron
        pydron.configure(executor="local", workers=workers, policy=policy)
        self.run([(0.0, 8, [])] * (2 * workers), [0], False, workers)   # workers started

    def run(self, tasks, sinks, sleep, workers):
        return _pydron_graph(tasks, sinks, sleep)

    def close(self):
        pass


def _dynamic(submit, wait_first, tasks, sinks, sleep):
    """Submit each task when its inputs are done (futures of a pool)."""
    n = len(tasks)
    left = [len(set(deps)) for _d, _b, deps in tasks]
    users: list[list[int]] = [[] for _ in range(n)]
    for i, (_d, _b, deps) in enumerate(tasks):
        for k in set(deps):
            users[k].append(i)
    vals: list = [None] * n
    running = {}

    def go(i):
        d, b, deps = tasks[i]
        running[submit(kernel, d, b, i, sleep, *[vals[k] for k in deps])] = i

    for i in range(n):
        if not left[i]:
            go(i)
    while running:
        done = wait_first(list(running))
        for f in done:
            i = running.pop(f)
            vals[i] = f.result()
            for u in users[i]:
                left[u] -= 1
                if not left[u]:
                    go(u)
    return [vals[k] for k in sinks]


class ProcessPool:
    def __init__(self, workers, policy=None):
        import concurrent.futures as cf
        self.cf = cf
        self.ex = cf.ProcessPoolExecutor(workers)
        list(self.ex.map(_noop, range(4 * workers)))

    def run(self, tasks, sinks, sleep, workers):
        cf = self.cf
        return _dynamic(self.ex.submit,
                        lambda fs: cf.wait(fs, return_when=cf.FIRST_COMPLETED).done,
                        tasks, sinks, sleep)

    def close(self):
        self.ex.shutdown()


def levels(tasks):
    lv = []
    for _d, _b, deps in tasks:
        lv.append(1 + max((lv[k] for k in deps), default=-1))
    out: list[list[int]] = [[] for _ in range(max(lv, default=-1) + 1)]
    for i, level in enumerate(lv):
        out[level].append(i)
    return out


class Joblib:
    def __init__(self, workers, policy=None):
        import joblib
        self.joblib = joblib
        self.par = joblib.Parallel(n_jobs=workers)
        self.par.__enter__()
        self.par(joblib.delayed(_noop)(i) for i in range(4 * workers))

    def run(self, tasks, sinks, sleep, workers):
        delayed = self.joblib.delayed
        vals: list = [None] * len(tasks)
        for level in levels(tasks):
            outs = self.par(delayed(kernel)(tasks[i][0], tasks[i][1], i, sleep,
                                            *[vals[k] for k in tasks[i][2]]) for i in level)
            for i, v in zip(level, outs):
                vals[i] = v
        return [vals[k] for k in sinks]

    def close(self):
        self.par.__exit__(None, None, None)


class Dask:
    def __init__(self, workers, policy=None):
        import logging
        from dask.distributed import Client, LocalCluster
        logging.getLogger("distributed").setLevel(logging.ERROR)
        self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=logging.ERROR)
        self.client = Client(self.cluster)
        self.client.gather(self.client.map(_noop, range(4 * workers)))

    def run(self, tasks, sinks, sleep, workers):
        dsk = {f"t{i}": (kernel, d, b, i, sleep, *[f"t{k}" for k in deps])
               for i, (d, b, deps) in enumerate(tasks)}
        return self.client.get(dsk, [f"t{k}" for k in sinks])

    def close(self):
        self.client.close()
        self.cluster.close()


class Ray:
    def __init__(self, workers, policy=None):
        import ray
        self.ray = ray
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        self.task = ray.remote(kernel)
        ray.get([ray.remote(_noop).remote(i) for i in range(4 * workers)])

    def run(self, tasks, sinks, sleep, workers):
        refs = []
        for i, (d, b, deps) in enumerate(tasks):
            refs.append(self.task.remote(d, b, i, sleep, *[refs[k] for k in deps]))
        return self.ray.get([refs[k] for k in sinks])

    def close(self):
        self.ray.shutdown()


class Sequential:
    def __init__(self, workers, policy=None):
        pass

    run = staticmethod(run_sequential)

    def close(self):
        pass


SYSTEMS = {
    "sequential": (Sequential, None),
    "pydron-python": (PydronPython, None),
    "processpool": (ProcessPool, None),
    "joblib": (Joblib, "joblib"),
    "dask": (Dask, "distributed"),
    "ray": (Ray, "ray"),
}


def available(name: str) -> str | None:
    """None if `name` can run here, else why not."""
    if name not in SYSTEMS:
        return f"unknown system '{name}'"
    mod = SYSTEMS[name][1]
    if mod:
        import importlib.util
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (pip install 'pydron[bench]' or pip install {mod})"
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pydron.bench.peers")
    p.add_argument("system", choices=sorted(SYSTEMS))
    p.add_argument("graph", help="JSON file: {name, tasks: [[out_bytes, [deps]], ...]}")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--durations", default="0.001",
                   help="comma-separated task durations (s), coarsest first; "
                        "'recorded': each task's own")
    p.add_argument("--kernel", choices=("busy", "sleep"), default="busy")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--stop", type=float, default=0.0,
                   help="stop after a point whose efficiency is below this")
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="stop after a point that took longer than this")
    a = p.parse_args(argv)
    why = available(a.system)
    if why:
        print(json.dumps({"system": a.system, "skip": why}), flush=True)
        return 0
    with open(a.graph, encoding="utf-8") as f:
        spec = json.load(f)
    shape = [(int(b), [int(k) for k in deps]) for b, deps, *_rest in spec["tasks"]]
    recorded = [float(r[2]) if len(r) > 2 else 0.0 for r in spec["tasks"]]
    sinks = spec.get("sinks") or []
    sleep = a.kernel == "sleep"
    workers = 1 if a.system == "sequential" else a.workers
    cls = SYSTEMS[a.system][0]
    t0 = time.perf_counter()
    try:
        sysobj = cls(a.workers)
    except Exception as e:  # a peer that cannot start is reported, not fatal
        print(json.dumps({"system": a.system, "skip": f"cannot start: {type(e).__name__}: {e}"}),
              flush=True)
        return 0
    startup = time.perf_counter() - t0
    try:
        points = (["recorded"] if a.durations == "recorded"
                  else [float(x) for x in a.durations.split(",") if x])
        for dur in points:
            if dur == "recorded":
                tasks = [(recorded[i], b, deps) for i, (b, deps) in enumerate(shape)]
            else:
                tasks = [(dur, b, deps) for b, deps in shape]
            work = sum(t[0] for t in tasks)
            best, dig = None, None
            for _ in range(max(1, a.repeat)):
                s = time.perf_counter()
                outs = sysobj.run(tasks, sinks, sleep, workers)
                m = time.perf_counter() - s
                dig = digest_of(outs)
                best = m if best is None else min(best, m)
            eff = work / (best * workers) if best > 0 else 0.0
            print(json.dumps({"system": a.system, "duration": None if dur == "recorded" else dur,
                              "tasks": len(tasks), "workers": workers, "cores": workers,
                              "work": work, "makespan": best, "efficiency": eff,
                              "digest": dig, "startup_s": startup}), flush=True)
            if (a.stop and eff < a.stop) or best > a.max_seconds:
                break
    finally:
        sysobj.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
