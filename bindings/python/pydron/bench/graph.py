"""Task graphs for the harness: read from a PYDRON_RECORD file.

A graph is a list of tasks in an order where every task comes after the
tasks it reads (a record lists tasks as they finished, which is such an
order). Task Bench's patterns come from the same place: ``pydron-bench``
builds the pattern on the inline executor with empty tasks while
PYDRON_RECORD writes it down, so the peers run exactly the graph the C
executors run, and a graph recorded from a real program replays the same
way. The record format is described in docs/schedulers.md ("Recorded
graphs").
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile

from . import tools


@dataclasses.dataclass
class Task:
    label: str
    deps: list[int]           # indices of the tasks whose outputs it reads
    duration: float           # seconds (recorded run time, or set by the sweep)
    out_bytes: int            # size of its (largest) output
    const_bytes: int = 0      # bytes of inputs no task made (the program's constants)


@dataclasses.dataclass
class Graph:
    name: str
    tasks: list[Task]
    makespan: float = 0.0     # of the recorded run (first queued .. last end), 0 if unknown
    workers: int = 0          # distinct workers the recorded run used

    @property
    def work(self) -> float:
        return sum(t.duration for t in self.tasks)

    def edges(self) -> int:
        return sum(len(t.deps) for t in self.tasks)

    def critical_path(self) -> float:
        """Longest chain of task durations (the makespan on unlimited workers
        with free communication)."""
        finish: list[float] = []
        for t in self.tasks:
            finish.append(t.duration + max((finish[d] for d in t.deps), default=0.0))
        return max(finish, default=0.0)

    def sinks(self) -> list[int]:
        used = set()
        for t in self.tasks:
            used.update(t.deps)
        return [i for i in range(len(self.tasks)) if i not in used]

    def with_duration(self, duration: float) -> "Graph":
        """The same graph with every task taking `duration` seconds."""
        ts = [dataclasses.replace(t, duration=duration) for t in self.tasks]
        return Graph(self.name, ts)


class RecordError(ValueError):
    pass


def read_record(path: str | os.PathLike, graph: int | None = None) -> tuple[Graph, int, dict]:
    """Read graph number `graph` of a PYDRON_RECORD file (None: the one with
    the most tasks). Returns (graph, its number, {number: task count}).
    Only tasks that finished ("done") are kept; an input that no recorded
    task made is a constant of the program."""
    per: dict[int, list[dict]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise RecordError(f"{path}:{n}: not a JSON line ({e})") from None
            if "pydron_record" in rec:
                if rec["pydron_record"] != 1:
                    raise RecordError(f"{path}:{n}: record format {rec['pydron_record']}, "
                                      "this pydron reads 1")
                continue
            if "graph" not in rec or "task" not in rec:
                raise RecordError(f"{path}:{n}: a task line needs 'graph' and 'task'")
            per.setdefault(int(rec["graph"]), []).append(rec)
    counts = {g: sum(r.get("state") == "done" for r in rs) for g, rs in per.items()}
    if not counts:
        raise RecordError(f"{path}: no tasks recorded (was PYDRON_RECORD set for the run?)")
    if graph is None:
        graph = max(counts, key=lambda g: (counts[g], -g))
    if graph not in per:
        raise RecordError(f"{path}: no graph {graph} (graphs: "
                          + ", ".join(f"{g} ({c} tasks)" for g, c in sorted(counts.items())) + ")")
    made: dict[int, int] = {}
    tasks: list[Task] = []
    t0, t1, workers = None, None, set()
    for r in per[graph]:
        if r.get("state") != "done":
            continue
        deps, const = [], 0
        for vid, size in r.get("inputs", []):
            if vid in made:
                if made[vid] not in deps:
                    deps.append(made[vid])
            else:
                const += int(size)
        s, e = int(r.get("start_ns") or 0), int(r.get("end_ns") or 0)
        outs = r.get("outputs", [])
        tasks.append(Task(r.get("label") or r.get("kind", "?"), deps,
                          (e - s) * 1e-9 if e > s > 0 else 0.0,
                          max((int(sz) for _v, sz in outs), default=0), const))
        for vid, _size in outs:
            made[vid] = len(tasks) - 1
        q = int(r.get("queued_ns") or s)
        if s:
            t0 = q if t0 is None else min(t0, q)
            t1 = e if t1 is None else max(t1, e)
        if int(r.get("worker", -1)) >= 0:
            workers.add(int(r["worker"]))
    g = Graph(f"{os.path.basename(str(path))}#{graph}", tasks,
              (t1 - t0) * 1e-9 if t0 is not None and t1 else 0.0, len(workers))
    return g, graph, counts


def pattern(name: str, width: int, steps: int, out_bytes: int = 8, radix: int = 0,
            seed: int = 1) -> Graph:
    """Task Bench pattern `name` as pydron_pattern_build makes it (recorded
    from an empty run of pydron-bench); durations are 0: set them with
    Graph.with_duration."""
    with tempfile.TemporaryDirectory(prefix="pydron-bench-") as d:
        path = os.path.join(d, "pattern.jsonl")
        env = dict(os.environ, PYDRON_RECORD=path)
        env.pop("PYDRON_TRACE", None)
        cmd = [tools.bench_binary(), "--pattern", name, "--width", str(width), "--steps",
               str(steps), "--duration", "0", "--bytes", str(out_bytes), "--seed", str(seed),
               "--executor", "inline"]
        if radix:
            cmd += ["--radix", str(radix)]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RecordError(f"pydron-bench --pattern {name}: {p.stderr.strip()}")
        # graph 1 is pydron-bench's warm-up task, graph 2 the pattern
        g, _n, _c = read_record(path, 2)
    g.name = name
    for t in g.tasks:
        t.duration = 0.0
    return g
