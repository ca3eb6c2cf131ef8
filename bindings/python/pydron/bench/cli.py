"""The command line of ``python -m pydron.bench``."""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import harness, report, tools

EPILOG = """\
systems: pydron-inline, pydron-threads, pydron-local, pydron-sim (the C
executors: bench tasks through pydron-bench), pydron-python (@functional
tasks on local workers), sequential, processpool, joblib, dask, ray (peers:
skipped with a note when not installed; pip install 'pydron[bench]').

Efficiency = work / (makespan x cores); task granularity = makespan x cores /
tasks; METG(50%) = the smallest granularity with efficiency >= 50% (Task
Bench, Slaughter et al., SC'20). Every point runs in a fresh process after a
warm-up (workers started); a system's sweep stops at the first point below
--stop efficiency.
"""

DEFAULT_PATTERNS = "trivial,stencil-1d,fft,tree"
DEFAULT_DURATIONS = "0.01,0.003,0.001,0.0003,0.0001,0.00003,0.00001"


def _list(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def parser() -> argparse.ArgumentParser:
    from pydron import bench as pkg

    p = argparse.ArgumentParser(prog="python -m pydron.bench", description=pkg.__doc__,
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patterns", default=DEFAULT_PATTERNS,
                   help=f"comma-separated, of {', '.join(harness.PATTERNS)}, or 'all' "
                        f"(default {DEFAULT_PATTERNS})")
    p.add_argument("--systems", default="all",
                   help="comma-separated systems (default: all; those not installed are "
                        "skipped with a note)")
    p.add_argument("--policies", default="all",
                   help="policies compared on --policy-executors (default: all six; "
                        "'none' skips the policy study)")
    p.add_argument("--policy-executors", default="threads,local,sim",
                   help="executors of the policy study (default threads,local,sim)")
    p.add_argument("--policy", default="fifo", help="policy of the C executors in the sweep")
    p.add_argument("--durations", default=DEFAULT_DURATIONS,
                   help="task durations in seconds, coarsest first (default %(default)s)")
    p.add_argument("--policy-duration", type=float, default=0.001,
                   help="task duration of the policy study (default 0.001)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="workers (cores) of every parallel system (default: CPUs)")
    p.add_argument("--width", type=int, default=0, help="points per step (default 4 x workers)")
    p.add_argument("--steps", type=int, default=0,
                   help="steps (default: 256 tasks in all, at least 4 steps)")
    p.add_argument("--bytes", type=int, default=8, help="output bytes per task (default 8)")
    p.add_argument("--kernel", choices=("busy", "sleep"), default="busy",
                   help="busy: tasks spin (Task Bench); sleep: tasks sleep, which measures the "
                        "runtime alone on a shared machine")
    p.add_argument("--repeat", type=int, default=1, help="runs per point, the best kept")
    p.add_argument("--stop", type=float, default=0.25,
                   help="a system's sweep stops after a point below this efficiency")
    p.add_argument("--max-seconds", type=float, default=30.0,
                   help="a system's sweep stops after a point that took longer")
    p.add_argument("--sim", action="append", default=[], metavar="NAME=VALUE",
                   help="simulator option (latency, bandwidth, driver_overhead, "
                        "task_overhead, jitter, cores); latency and driver_overhead are "
                        "otherwise calibrated on the local executor")
    p.add_argument("--replay", metavar="FILE",
                   help="instead of patterns: the graph of a PYDRON_RECORD file, each task "
                        "with its recorded duration")
    p.add_argument("--graph", type=int, default=None,
                   help="with --replay: which graph of the file (default: the largest)")
    p.add_argument("--out", default="bench-results", help="output folder (default %(default)s)")
    p.add_argument("--image-prefix", default="",
                   help="prefix of the image links in summary.md (e.g. a docs folder)")
    p.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run of a few seconds: stencil-1d, 4 x 4 tasks, two durations, "
                        "the pydron executors, sequential and processpool")
    return p


def config(a) -> harness.Config:
    if a.quick:
        if a.patterns == DEFAULT_PATTERNS:
            a.patterns = "stencil-1d"
        if a.systems == "all":
            a.systems = "pydron-inline,pydron-threads,pydron-local,pydron-sim,sequential," \
                        "processpool"
        if a.durations == DEFAULT_DURATIONS:
            a.durations = "0.002,0.0002"
        if a.policies == "all":
            a.policies = "fifo,heft,work-stealing"
        if a.policy_executors == "threads,local,sim":
            a.policy_executors = "threads,sim"
        a.width = a.width or 4
        a.steps = a.steps or 4
        a.workers = min(a.workers, 2)
    pats = list(harness.PATTERNS) if a.patterns == "all" else _list(a.patterns)
    for p in pats:
        if p.replace("_", "-") not in harness.PATTERNS:
            raise SystemExit(f"python -m pydron.bench: unknown pattern '{p}' "
                             f"(known: {', '.join(harness.PATTERNS)})")
    systems = list(harness.ALL_SYSTEMS) if a.systems == "all" else _list(a.systems)
    for s in systems:
        if s not in harness.ALL_SYSTEMS:
            raise SystemExit(f"python -m pydron.bench: unknown system '{s}' "
                             f"(known: {', '.join(harness.ALL_SYSTEMS)})")
    policies = (list(harness.POLICIES) if a.policies == "all"
                else [] if a.policies == "none" else _list(a.policies))
    for q in policies:
        if q not in harness.POLICIES:
            raise SystemExit(f"python -m pydron.bench: unknown policy '{q}' "
                             f"(known: {', '.join(harness.POLICIES)})")
    pex = _list(a.policy_executors)
    for e in pex:
        if e not in harness.C_EXECUTORS:
            raise SystemExit(f"python -m pydron.bench: --policy-executors takes "
                             f"{', '.join(harness.C_EXECUTORS)}, not '{e}'")
    try:
        durs = [float(x) for x in _list(a.durations)]
    except ValueError:
        raise SystemExit("python -m pydron.bench: --durations takes numbers (seconds)") from None
    if not durs or any(d < 0 for d in durs):
        raise SystemExit("python -m pydron.bench: --durations must be >= 0")
    if a.workers < 1:
        raise SystemExit("python -m pydron.bench: --workers must be >= 1")
    sim = {}
    for kv in a.sim:
        k, _, v = kv.partition("=")
        k = k.strip().replace("-", "_")
        if k not in ("latency", "bandwidth", "driver_overhead", "task_overhead", "jitter",
                     "cores"):
            raise SystemExit(f"python -m pydron.bench: unknown --sim option '{k}'")
        try:
            sim[k] = float(v)
        except ValueError:
            raise SystemExit(f"python -m pydron.bench: --sim {k}= takes a number") from None
    width = a.width or 4 * a.workers
    steps = a.steps or max(4, 256 // width)
    if a.replay and not os.path.exists(a.replay):
        raise SystemExit(f"python -m pydron.bench: no such file: {a.replay}")
    return harness.Config(patterns=[p.replace("_", "-") for p in pats], systems=systems,
                          policies=policies, policy_executors=pex, durations=durs,
                          policy_duration=a.policy_duration, workers=a.workers, width=width,
                          steps=steps, out_bytes=a.bytes, kernel=a.kernel, policy=a.policy,
                          repeat=a.repeat, stop=a.stop, max_seconds=a.max_seconds, sim=sim,
                          replay=a.replay, replay_graph=a.graph)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parser().parse_args(argv)
    cfg = config(a)
    try:
        tools.bench_binary()
    except FileNotFoundError as e:
        print(f"python -m pydron.bench: {e}", file=sys.stderr)
        return 1
    os.makedirs(a.out, exist_ok=True)
    info = tools.machine()
    t0 = time.time()
    h = harness.Harness(cfg)
    try:
        rows = h.run()
    except Exception as e:  # a record that cannot be read, a pattern pydron-bench refuses
        from .graph import RecordError
        if isinstance(e, (RecordError, ValueError)):
            print(f"python -m pydron.bench: {e}", file=sys.stderr)
            return 1
        raise
    csv_path = os.path.join(a.out, "results.csv")
    report.write_csv(rows, csv_path, harness.FIELDS)
    images = []
    if not a.no_plots:
        try:
            images = report.plots(rows, a.out)
        except ImportError:
            h.notes.append("plots skipped: matplotlib is not installed "
                           "(pip install 'pydron[bench]')")
    summary = report.markdown(
        rows, info, {"workers": cfg.workers, "kernel": cfg.kernel, "width": cfg.width,
                     "steps": cfg.steps, "argv": " ".join(argv),
                     "image_prefix": a.image_prefix},
        h.skipped, h.notes, h.calibration, images, getattr(h, "replayed", None))
    with open(os.path.join(a.out, "summary.md"), "w", encoding="utf-8") as f:
        f.write(summary)
    print(summary, end="")
    print(f"\n{len(rows)} measurements in {time.time() - t0:.0f} s; written to {a.out}/ "
          f"(results.csv, summary.md" + (", efficiency/makespan .png/.svg" if images else "")
          + ")", file=sys.stderr)
    return 0
