"""Efficiency, task granularity and METG, as Task Bench defines them
(Slaughter et al., "Task Bench: A Parameterized Benchmark for Evaluating
Parallel Runtime Performance", SC'20, section 4):

- efficiency: the useful work done per second over the peak the cores could
  do; with tasks that spin (or sleep) for a known time this is
  work / (makespan x cores);
- task granularity: makespan x cores / tasks, the time each task occupied a
  core, overhead included;
- METG(50%), the minimum effective task granularity: the smallest task
  granularity at which efficiency is still at least 50%. Like Task Bench's
  scripts, the point found is interpolated linearly toward the next finer
  point when that one fell below the threshold.
"""

from __future__ import annotations

import math


def efficiency(work: float, makespan: float, cores: int) -> float:
    return work / (makespan * cores) if makespan > 0 and cores > 0 else 0.0


def granularity(makespan: float, cores: int, tasks: int) -> float:
    return makespan * cores / tasks if tasks else 0.0


def metg(points: list[tuple[float, float]], threshold: float = 0.5) -> tuple[float, str]:
    """METG from (granularity, efficiency) points of one sweep.

    Returns (seconds, how): how is "" when the threshold was crossed inside
    the sweep, "<=" when even the finest point reached it (the METG is at
    most that granularity), and "none" (seconds = nan) when no point did."""
    pts = sorted(p for p in points if p[0] > 0 and not math.isnan(p[1]))
    good = [(g, e) for g, e in pts if e >= threshold]
    if not good:
        return math.nan, "none"
    g0, e0 = min(good)
    finer = [(g, e) for g, e in pts if g < g0]
    if not finer:
        return g0, "<="
    # the coarsest of the finer points (all are below the threshold)
    g1, e1 = max(finer)
    if e0 == e1:
        return g0, ""
    # linear interpolation between (e1, g1) and (e0, g0) at the threshold
    return g1 + (threshold - e1) * (g0 - g1) / (e0 - e1), ""
