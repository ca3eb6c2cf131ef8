"""``python -m pydron replay FILE``: read back a run recorded with
PYDRON_RECORD=FILE - the graph each task of it made, with the measured
durations and value sizes - and replay it on an executor, the simulator by
default, once per policy (the pydron-bench program that ships with the
package does the run: every recorded task becomes a task that takes its
recorded time and makes outputs of its recorded size)."""

from __future__ import annotations

import json
import os
import subprocess

DESCRIPTION = """\
Read a file written with PYDRON_RECORD=FILE, print its graphs and, for the
chosen one (default: the largest), its tasks, edges, work, critical path and
the recorded makespan; then replay it on --executor (default: the simulator,
on as many workers as the recorded run used) with each --policy and print
the makespan each gives. The format is in docs/schedulers.md ("Recorded
graphs"); python -m pydron.bench --replay FILE compares systems on it."""

EPILOG = """\
example:
  PYDRON_RECORD=run.jsonl python examples/transits.py
  python -m pydron replay run.jsonl --workers 8 --policy fifo,heft,work-stealing"""


def add_arguments(p) -> None:
    p.add_argument("file", help="a file written with PYDRON_RECORD=FILE")
    p.add_argument("--graph", type=int, default=None,
                   help="which graph of the file (default: the one with the most tasks)")
    p.add_argument("--executor", default="sim", choices=("sim", "inline", "threads", "local"),
                   help="where to replay it (default: sim, the simulator)")
    p.add_argument("--workers", type=int, default=0,
                   help="workers (default: as many as the recorded run used, at least 1)")
    p.add_argument("--policy", default="fifo,critical-path,heft,work-stealing",
                   help="comma-separated policies (default %(default)s)")
    p.add_argument("--latency", type=float, default=None,
                   help="simulator: seconds per message (default: the simulator's 50 us, "
                        "or measured with --calibrate)")
    p.add_argument("--driver-overhead", type=float, default=None,
                   help="simulator: seconds the driver spends per job sent (default 0, or "
                        "measured with --calibrate)")
    p.add_argument("--task-overhead", type=float, default=None,
                   help="simulator: seconds a worker spends per task besides its body "
                        "(default 0, or from the record with --calibrate)")
    p.add_argument("--calibrate", action="store_true",
                   help="simulator: measure driver overhead and latency on the local "
                        "executor (as python -m pydron.bench does) and take the task "
                        "overhead from the record: the median gap between a worker's tasks")
    p.add_argument("--no-run", action="store_true", help="only describe the graph")
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def _fmt(s: float) -> str:
    return f"{s:.3f} s" if s >= 0.1 else f"{s * 1e3:.3f} ms"


def main(a) -> int:
    import sys

    from ..bench import graph as graphs
    from ..bench import tools

    try:
        g, num, counts = graphs.read_record(a.file, a.graph)
    except FileNotFoundError:
        print(f"python -m pydron replay: no such file: {a.file}", file=sys.stderr)
        return 2
    except (graphs.RecordError, UnicodeDecodeError) as e:
        print(f"python -m pydron replay: {e}", file=sys.stderr)
        return 2
    desc = {"file": a.file, "graphs": {str(k): v for k, v in sorted(counts.items())},
            "graph": num, "tasks": len(g.tasks), "edges": g.edges(), "work_s": g.work,
            "critical_path_s": g.critical_path(), "recorded_makespan_s": g.makespan,
            "recorded_workers": g.workers}
    if a.json:
        print(json.dumps(desc))
    else:
        print(f"{a.file}: graphs " + ", ".join(f"{k} ({v} tasks)" for k, v in
                                               sorted(counts.items())))
        print(f"graph {num}: {len(g.tasks)} tasks, {g.edges()} edges, work {_fmt(g.work)}, "
              f"critical path {_fmt(g.critical_path())}; recorded makespan "
              f"{_fmt(g.makespan)} on {g.workers} worker(s)")
    if a.no_run:
        return 0
    try:
        binary = tools.bench_binary()
    except FileNotFoundError as e:
        print(f"python -m pydron replay: {e}", file=sys.stderr)
        return 1
    workers = a.workers or max(1, g.workers)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYDRON_RECORD", "PYDRON_TRACE", "PYDRON_PROGRESS")}
    sim = {"latency": a.latency, "driver_overhead": a.driver_overhead,
           "task_overhead": a.task_overhead}
    if a.calibrate and a.executor == "sim":
        try:
            cal = _calibrate(binary, env, workers, a.file)
        except (RuntimeError, ValueError) as e:
            print(f"python -m pydron replay: calibration failed: {e}", file=sys.stderr)
            return 1
        for k, v in cal.items():
            if sim[k] is None:
                sim[k] = v
        if a.json:
            print(json.dumps({"calibration": cal}))
        else:
            print("  calibrated: " + ", ".join(f"{k} {v * 1e6:.1f} us" for k, v in cal.items()))
    for pol in [p.strip() for p in a.policy.split(",") if p.strip()]:
        cmd = [binary, "--replay", a.file, "--graph", str(num), "--executor", a.executor,
               "--workers", str(workers), "--policy", pol]
        if a.executor == "sim":
            for k, v in sim.items():
                if v is not None:
                    cmd += ["--" + k.replace("_", "-"), repr(float(v))]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            print(f"python -m pydron replay: {r.stderr.strip()}", file=sys.stderr)
            return 1
        out = json.loads(r.stdout.strip().splitlines()[-1])
        if a.json:
            print(json.dumps({"executor": a.executor, "workers": out["workers"], "policy": pol,
                              "tasks": out["tasks"], "makespan_s": out["makespan"]}))
        else:
            print(f"  {a.executor} x {out['workers']} workers, {pol:13s}: makespan "
                  f"{_fmt(out['makespan'])} ({out['tasks']} tasks)")
    return 0


def _calibrate(binary: str, env: dict, workers: int, record: str) -> dict:
    """driver_overhead and latency measured on the local executor; the task
    overhead is the recorded run's own: its durations already hold what each
    task took, so only the gap between tasks on a worker is added."""
    from ..bench import calibrate

    def run(args, record=None):
        e = dict(env)
        if record:
            e["PYDRON_RECORD"] = record
        r = subprocess.run([binary, *args], capture_output=True, text=True, env=e, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip()[-300:])
        return [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]

    cal = calibrate.calibrate(run, workers, "busy", [])
    _, gap, _ = calibrate.record_costs(record, 0.0)
    return {"latency": cal.latency, "driver_overhead": cal.driver_overhead,
            "task_overhead": gap}
