"""The sweeps: patterns x systems x task durations, and patterns x
policies x executors; every measurement runs in a child process (the C
executors through pydron-bench, the Python systems through
pydron.bench.peers) and comes back as JSON lines, turned into rows here."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile

from . import calibrate as calib
from . import graph as graphs
from . import metrics, peers, tools

C_EXECUTORS = ("inline", "threads", "local", "sim")
C_SYSTEMS = tuple("pydron-" + e for e in C_EXECUTORS)
PY_SYSTEMS = tuple(peers.SYSTEMS)
ALL_SYSTEMS = C_SYSTEMS + PY_SYSTEMS
PATTERNS = ("trivial", "no-comm", "stencil-1d", "nearest", "spread", "fft", "tree", "random")
POLICIES = ("fifo", "critical-path", "locality", "heft", "work-stealing", "random")

FIELDS = ["study", "system", "executor", "policy", "pattern", "width", "steps", "tasks",
          "duration", "kernel", "workers", "cores", "work", "makespan", "efficiency",
          "granularity", "digest", "note"]


@dataclasses.dataclass
class Config:
    patterns: list[str]
    systems: list[str]
    policies: list[str]
    policy_executors: list[str]
    durations: list[float]
    policy_duration: float
    workers: int
    width: int
    steps: int
    out_bytes: int = 8
    kernel: str = "busy"
    policy: str = "fifo"          # of the C executors in the sweep
    repeat: int = 1
    stop: float = 0.25
    max_seconds: float = 30.0
    sim: dict = dataclasses.field(default_factory=dict)   # pydron-bench --latency etc.
    replay: str | None = None
    replay_graph: int | None = None
    log: object = sys.stderr


class Harness:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.skipped: dict[str, str] = {}
        self.calibration: calib.Calibration | None = None
        self.tmp = tempfile.TemporaryDirectory(prefix="pydron-bench-")
        self.bin = tools.bench_binary()

    def say(self, msg: str):
        print(msg, file=self.cfg.log, flush=True)

    # -------------------------------------------------------- C executors

    def sim_args(self, duration: float | None) -> list[str]:
        opts = dict(self.cfg.sim)
        if self.calibration and "task_overhead" not in opts:
            # measured at this task duration (the nearest calibrated one)
            opts["task_overhead"] = self.calibration.overhead_for(duration)
        out = []
        for k, v in sorted(opts.items()):
            out += ["--" + k.replace("_", "-"), repr(float(v))]
        return out

    def pydron_bench(self, args: list[str], timeout: float = 120,
                     record: str | None = None) -> list[dict]:
        cmd = [self.bin, *args]
        env = dict(os.environ)
        for k in ("PYDRON_RECORD", "PYDRON_TRACE", "PYDRON_PROGRESS"):
            env.pop(k, None)
        if record:
            env["PYDRON_RECORD"] = record
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from None
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()[-500:]}")
        return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]

    def c_point(self, executor: str, policy: str, pattern: str | None, duration: float | None
                ) -> dict:
        c = self.cfg
        args = ["--executor", executor, "--policy", policy, "--workers", str(c.workers),
                "--repeat", str(c.repeat), "--kernel", c.kernel]
        if pattern is None:
            args += ["--replay", c.replay]
            if c.replay_graph is not None:
                args += ["--graph", str(c.replay_graph)]
        else:
            args += ["--pattern", pattern, "--width", str(c.width), "--steps", str(c.steps),
                     "--duration", repr(duration), "--bytes", str(c.out_bytes)]
        if executor == "sim":
            args += self.sim_args(duration)
        # generous: the work itself plus a margin for a loaded machine
        runs = self.pydron_bench(args, timeout=120 + 20 * c.max_seconds)
        best = min(runs, key=lambda r: r["makespan"])
        return {"executor": executor, "policy": best["policy"], "tasks": best["tasks"],
                "workers": best["workers"], "cores": best["cores"], "work": best["work"],
                "makespan": best["makespan"], "digest": best["digest"],
                "note": "failed tasks: %d" % best["failed"] if best["failed"] else ""}

    # -------------------------------------------------------- Python systems

    def graph_file(self, g: graphs.Graph) -> str:
        path = os.path.join(self.tmp.name, f"graph-{len(os.listdir(self.tmp.name))}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"name": g.name, "sinks": g.sinks(),
                       "tasks": [[t.out_bytes, t.deps, t.duration] for t in g.tasks]}, f)
        return path

    def py_sweep(self, system: str, gfile: str, durations: list[float] | None) -> list[dict]:
        c = self.cfg
        cmd = [sys.executable, "-m", "pydron.bench.peers", system, gfile,
               "--workers", str(c.workers), "--kernel", c.kernel, "--repeat", str(c.repeat),
               "--stop", str(c.stop), "--max-seconds", str(c.max_seconds),
               "--durations", "recorded" if durations is None else
               ",".join(repr(d) for d in durations)]
        env = dict(os.environ)
        for k in ("PYDRON_RECORD", "PYDRON_TRACE", "PYDRON_PROGRESS", "PYDRON_EXECUTOR",
                  "PYDRON_WORKERS", "PYDRON_POLICY"):
            env.pop(k, None)
        n = len(durations or [0])
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                               timeout=180 + n * (30 + 2 * c.max_seconds))
        except subprocess.TimeoutExpired:
            return [{"system": system, "skip": "timed out"}]
        out = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        if p.returncode != 0 and not out:
            return [{"system": system, "skip": "failed: " + p.stderr.strip()[-300:]}]
        return out

    # -------------------------------------------------------- rows

    def add(self, study: str, system: str, pattern: str, duration, r: dict):
        c = self.cfg
        eff = metrics.efficiency(r["work"], r["makespan"], r["cores"])
        row = {"study": study, "system": system, "executor": r.get("executor", ""),
               "policy": r.get("policy", ""), "pattern": pattern,
               "width": c.width if study != "replay" else "", "steps": c.steps
               if study != "replay" else "", "tasks": r["tasks"],
               "duration": duration if duration is not None else "", "kernel": c.kernel,
               "workers": r["workers"], "cores": r["cores"], "work": r["work"],
               "makespan": r["makespan"], "efficiency": eff,
               "granularity": metrics.granularity(r["makespan"], r["cores"], r["tasks"]),
               "digest": r.get("digest", ""), "note": r.get("note", "")}
        self.rows.append(row)
        self.say(f"  {study:7s} {system:15s} {row['policy'] or '-':13s} {pattern:12s} "
                 f"d={duration if duration is not None else 'rec':<8} "
                 f"makespan={r['makespan']:.4g}s eff={eff:.0%}")
        return row

    def skip(self, system: str, why: str):
        if system not in self.skipped:
            self.skipped[system] = why
            self.say(f"  skip {system}: {why}")

    # -------------------------------------------------------- studies

    def calibrate(self):
        """The simulator's options measured on the local executor (see
        calibrate.py): driver cost per job, latency, and the per-task cost
        on a worker at each task duration of this run, with its kernel.
        Options given with --sim are kept."""
        c = self.cfg
        durs = list(c.durations)
        if "sim" in c.policy_executors and c.policies:
            durs.append(c.policy_duration)
        cal = calib.calibrate(self.pydron_bench, c.workers, c.kernel, durs)
        self.calibration = cal
        c.sim.setdefault("driver_overhead", cal.driver_overhead)
        c.sim.setdefault("latency", cal.latency)
        per = ", ".join(f"{d * 1e3:g} ms: {cal.task_overhead[d] * 1e6:.0f} us"
                        for d in sorted(cal.task_overhead, reverse=True))
        self.say(f"  sim calibrated on the local executor: driver {cal.driver_overhead * 1e6:.1f} "
                 f"us/task, chain {cal.chain_per_task * 1e6:.0f} us/task -> latency "
                 f"{c.sim['latency'] * 1e6:.0f} us; task overhead {per}")

    def sweep_pattern(self, pattern: str):
        c = self.cfg
        self.say(f"{pattern}: {c.width} x {c.steps} tasks")
        g = graphs.pattern(pattern, c.width, c.steps, c.out_bytes)
        gfile = self.graph_file(g)
        for system in c.systems:
            if system in self.skipped:
                continue
            if system in C_SYSTEMS:
                ex = system.split("-", 1)[1]
                for d in c.durations:
                    try:
                        r = self.c_point(ex, c.policy, pattern, d)
                    except RuntimeError as e:
                        self.notes.append(f"{system} {pattern} d={d}: {e}")
                        self.say(f"  {system}: {e}")
                        break
                    row = self.add("sweep", system, pattern, d, r)
                    if row["efficiency"] < c.stop or row["makespan"] > c.max_seconds:
                        break
            else:
                for r in self.py_sweep(system, gfile, c.durations):
                    if "skip" in r:
                        self.skip(system, r["skip"])
                        break
                    r.setdefault("executor", "")
                    self.add("sweep", system, pattern, r["duration"], r)

    def policy_study(self, pattern: str):
        c = self.cfg
        for ex in c.policy_executors:
            for pol in c.policies:
                try:
                    r = self.c_point(ex, pol, pattern, c.policy_duration)
                except RuntimeError as e:
                    self.notes.append(f"pydron-{ex} {pol} {pattern}: {e}")
                    continue
                self.add("policy", "pydron-" + ex, pattern, c.policy_duration, r)

    def replay_study(self):
        c = self.cfg
        g, num, counts = graphs.read_record(c.replay, c.replay_graph)
        c.replay_graph = num
        self.replayed = g
        self.say(f"replay {g.name}: {len(g.tasks)} tasks, {g.edges()} edges, work "
                 f"{g.work:.3f} s, critical path {g.critical_path():.3f} s, recorded makespan "
                 f"{g.makespan:.3f} s")
        name = os.path.basename(c.replay)
        gfile = self.graph_file(g)
        for system in c.systems:
            if system in C_SYSTEMS:
                ex = system.split("-", 1)[1]
                for pol in (c.policies if ex in c.policy_executors else ["fifo"]):
                    try:
                        r = self.c_point(ex, pol, None, None)
                    except RuntimeError as e:
                        self.notes.append(f"{system} replay: {e}")
                        break
                    self.add("replay", system, name, None, r)
            else:
                for r in self.py_sweep(system, gfile, None):
                    if "skip" in r:
                        self.skip(system, r["skip"])
                        break
                    self.add("replay", system, name, None, r)

    def run(self):
        c = self.cfg
        for s in c.systems:
            if s not in ALL_SYSTEMS:
                raise ValueError(f"unknown system '{s}' (known: {', '.join(ALL_SYSTEMS)})")
            if s in PY_SYSTEMS:
                why = peers.available(s)
                if why:
                    self.skip(s, why)
        uses_sim = "pydron-sim" in c.systems or ("sim" in c.policy_executors and c.policies
                                                 and not c.replay)
        if uses_sim and not {"latency", "driver_overhead", "task_overhead"} <= set(c.sim):
            self.calibrate()
        if c.replay:
            self.replay_study()
            return self.rows
        for pattern in c.patterns:
            self.sweep_pattern(pattern)
            if c.policies and c.policy_executors:
                self.policy_study(pattern)
        return self.rows
