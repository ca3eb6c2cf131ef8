"""The simulator's options measured on the real executor it is compared with.

The simulator charges a job driver_overhead on the driver (one job at a
time), latency on the way to its worker and back, and task_overhead +
duration on a core. Short runs of the local executor give each of them:

- driver_overhead: 2,000 independent empty tasks (spinning for 0 s, so
  that the workers are not the bottleneck): the makespan over 2,000;
- task_overhead, per task duration and kernel: a recorded run
  (PYDRON_RECORD) of independent tasks of that duration; what a task held
  its worker beyond its duration (a sleep wakes up late, a spin starts late
  when the core is shared) plus the gap between one task's end and the next
  one's start on the same worker (the worker reporting and taking the next
  job), medians over the run;
- latency: a chain of 200 empty tasks, where each task waits for the one
  before it: one link costs driver_overhead + latency + the task + latency,
  so latency is half of what is left.

Medians, not means, so that a task that a busy machine preempted does not
set the model; the figures are taken again for every run of the harness,
on the machine of that run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import tempfile


@dataclasses.dataclass
class Calibration:
    driver_overhead: float = 0.0          # s per job sent
    chain_per_task: float = 0.0           # s per link of an empty chain
    latency: float = 0.0                  # s per message
    task_overhead: dict = dataclasses.field(default_factory=dict)   # duration -> s
    late: dict = dataclasses.field(default_factory=dict)            # duration -> s
    gap: dict = dataclasses.field(default_factory=dict)             # duration -> s

    def overhead_for(self, duration: float | None) -> float:
        """task_overhead at `duration` (the nearest calibrated one)."""
        if not self.task_overhead:
            return 0.0
        if duration is None:
            duration = 0.0
        near = min(self.task_overhead, key=lambda d: abs(d - duration))
        return self.task_overhead[near]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def record_costs(path: str, duration: float) -> tuple[float, float, int]:
    """(late, gap, tasks) of the largest graph of a PYDRON_RECORD file:
    the median of (end - start - duration) over its tasks, and the median
    time a worker spent between a task's end and its next task's start when
    that next task was ready before (so the worker was not waiting for
    work)."""
    graphs: dict[int, list[dict]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if "graph" in r and r.get("state") == "done" and r.get("worker", -1) >= 0:
                graphs.setdefault(r["graph"], []).append(r)
    if not graphs:
        raise ValueError(f"{path}: no task ran on a worker")
    tasks = max(graphs.values(), key=len)
    late = statistics.median((r["end_ns"] - r["start_ns"]) * 1e-9 - duration for r in tasks)
    per_worker: dict[int, list[dict]] = {}
    for r in tasks:
        per_worker.setdefault(r["worker"], []).append(r)
    gaps = []
    for rs in per_worker.values():
        rs.sort(key=lambda r: r["start_ns"])
        for a, b in zip(rs, rs[1:]):
            if b["queued_ns"] <= a["end_ns"] <= b["start_ns"]:
                gaps.append((b["start_ns"] - a["end_ns"]) * 1e-9)
    gap = statistics.median(gaps) if gaps else 0.0
    return max(0.0, late), gap, len(tasks)


def calibrate(run, workers: int, kernel: str, durations: list[float]) -> Calibration:
    """Measure the simulator's options on the local executor. `run(args,
    record=None)` runs pydron-bench with args (recording to `record` if
    given) and returns its JSON lines."""
    cal = Calibration()
    base = ["--executor", "local", "--workers", str(workers), "--kernel", kernel]
    empty = base + ["--duration", "0", "--repeat", "3"]
    # busy, whatever the kernel: a sleep of 0 still costs a timer's slack
    # (~60 us here), which would make the workers, not the driver, the
    # bottleneck of this run
    wide = run(["--executor", "local", "--workers", str(workers), "--kernel", "busy",
                "--duration", "0", "--repeat", "3", "--pattern", "trivial", "--width", "2000",
                "--steps", "1"])
    cal.driver_overhead = min(r["makespan"] for r in wide) / 2000
    with tempfile.TemporaryDirectory(prefix="pydron-calibrate-") as tmp:
        for d in sorted(set([0.0] + list(durations))):
            rec = os.path.join(tmp, f"d{d!r}.jsonl")
            # 16 tasks per worker: enough for medians, short at 10 ms
            run(base + ["--pattern", "trivial", "--width", str(16 * workers), "--steps", "1",
                        "--duration", repr(d)], record=rec)
            late, gap, _ = record_costs(rec, d)
            cal.late[d], cal.gap[d] = late, gap
            cal.task_overhead[d] = late + gap
    chain = run(empty + ["--pattern", "no-comm", "--width", "1", "--steps", "200"])
    cal.chain_per_task = min(r["makespan"] for r in chain) / 200
    cal.latency = max(0.0, (cal.chain_per_task - cal.driver_overhead
                            - cal.task_overhead[0.0]) / 2)
    return cal
