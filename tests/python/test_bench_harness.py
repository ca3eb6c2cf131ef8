"""python -m pydron.bench (the harness of issue 13) and python -m pydron
replay: the METG arithmetic, Task Bench's patterns read back from a record,
a --quick run end to end (CSV, plots, Markdown), and a program recorded with
PYDRON_RECORD, read back and replayed on the simulator and the harness.
Figures are not asserted (speed is measured in benchmarks, not tests); the
structure and the digests are."""

import csv
import json
import math
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import pydron
from pydron.bench import graph as graphs
from pydron.bench import metrics

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)


def _env(**kw):
    env = {"PYTHONPATH": PKG_ROOT, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/tmp")}
    env.update({k: str(v) for k, v in kw.items()})
    return env


def _run(*args, timeout=300, **env):
    return subprocess.run([sys.executable, *args], env=_env(**env), capture_output=True,
                          text=True, timeout=timeout)


# ------------------------------------------------------------------ METG


def test_metg_interpolates_where_efficiency_crosses_half():
    # (granularity, efficiency): 1 ms at 90%, 100 us at 60%, 10 us at 10%
    pts = [(1e-3, 0.9), (1e-4, 0.6), (1e-5, 0.1)]
    v, how = metrics.metg(pts)
    assert how == ""
    # between 100 us (60%) and 10 us (10%): 50% is a fifth of the way down
    assert v == pytest.approx(1e-4 - (1e-4 - 1e-5) * 0.1 / 0.5)


def test_metg_when_every_point_or_none_is_efficient():
    assert metrics.metg([(1e-3, 0.9), (1e-4, 0.7)]) == (1e-4, "<=")
    v, how = metrics.metg([(1e-3, 0.4), (1e-4, 0.1)])
    assert how == "none" and math.isnan(v)
    # an efficient point finer than an inefficient one (noise): the finest
    # efficient point counts, as in Task Bench's scripts
    assert metrics.metg([(1e-3, 0.3), (1e-4, 0.8), (1e-5, 0.2)])[0] < 1e-4


def test_efficiency_and_granularity_are_task_bench_s():
    # 100 tasks of 1 ms on 2 cores in 0.1 s: 50%, each task held a core 2 ms
    assert metrics.efficiency(0.1, 0.1, 2) == pytest.approx(0.5)
    assert metrics.granularity(0.1, 2, 100) == pytest.approx(0.002)


# ------------------------------------------------------------------ patterns


@pytest.mark.parametrize("name,width,steps,edges", [
    ("trivial", 4, 3, 0),
    ("no-comm", 4, 3, 8),
    ("stencil-1d", 4, 3, 20),    # per step: 2 + 3 + 3 + 2
    ("tree", 8, 4, 2 + 4 + 8),   # 1, 2, 4, 8 points; each but the root reads its parent
])
def test_patterns_read_back_from_a_record(name, width, steps, edges):
    g = graphs.pattern(name, width, steps)
    ntasks = width * steps if name != "tree" else 1 + 2 + 4 + 8
    assert len(g.tasks) == ntasks
    assert g.edges() == edges
    # record order is a topological order
    for i, t in enumerate(g.tasks):
        assert all(d < i for d in t.deps)
    assert all(t.out_bytes == 8 for t in g.tasks)


def test_bad_input_gets_a_clear_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    r = _run("-m", "pydron.bench", "--replay", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "not a JSON line" in r.stderr, r.stderr
    r = _run("-m", "pydron.bench", "--patterns", "nope", "--out", str(tmp_path / "o"))
    assert r.returncode != 0 and "unknown pattern 'nope'" in r.stderr
    r = _run("-m", "pydron", "replay", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "no such file" in r.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"pydron_record":1,"pid":1}\n')
    r = _run("-m", "pydron", "replay", str(empty))
    assert r.returncode == 2 and "no tasks recorded" in r.stderr


# ------------------------------------------------------------------ --quick


def test_quick_run_writes_csv_plots_and_summary(tmp_path):
    from conftest import require_local
    require_local()
    out = tmp_path / "out"
    r = _run("-m", "pydron.bench", "--quick", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    systems = {row["system"] for row in rows if row["study"] == "sweep"}
    assert systems == {"pydron-inline", "pydron-threads", "pydron-local", "pydron-sim",
                       "sequential", "processpool"}, systems
    for row in rows:
        assert row["pattern"] == "stencil-1d" and int(row["tasks"]) == 16
        assert float(row["makespan"]) > 0
        eff = float(row["efficiency"])
        assert 0 < eff <= 1.05, row
    pol = {(row["system"], row["policy"]) for row in rows if row["study"] == "policy"}
    assert pol == {(s, p) for s in ("pydron-threads", "pydron-sim")
                   for p in ("fifo", "heft", "work-stealing")}
    # the C executors agree on the graph's digests, and so do the Python systems
    for fam in (("pydron-",), ("sequential", "processpool")):
        ds = {row["digest"] for row in rows if row["system"].startswith(fam)}
        assert len(ds) == 1, (fam, ds)
    summary = (out / "summary.md").read_text()
    assert summary == r.stdout.rstrip("\n") + "\n"
    assert "METG(50%)" in summary and "Slaughter et al." in summary
    for s in systems:
        assert f"| {s} |" in summary
    assert "every system computed the same digests" in summary
    assert "Simulator calibration" in summary and "task_overhead per task duration" in summary
    for name in ("efficiency", "makespan"):
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
        svg = (out / f"{name}.svg").read_text()
        assert "<svg" in svg and "stencil-1d" in svg
        assert f"![{name}]({name}.svg)" in summary


# ------------------------------------------------------------------ record / replay

PROGRAM = textwrap.dedent("""
    import time
    from pydron import schedule, functional

    @functional
    def leaf(i):
        time.sleep(0.02)
        return bytes(1000 * (i + 1))

    @functional
    def join(a, b):
        time.sleep(0.01)
        return len(a) + len(b)

    @schedule
    def main(n):
        leaves = [leaf(i) for i in range(n)]
        pairs = [join(leaves[i], leaves[i + 1]) for i in range(0, n, 2)]
        return sum(pairs)

    print(main(8))
""")


def test_recorded_program_reads_back_and_replays(tmp_path):
    """PYDRON_RECORD=file writes the graph of a real run; python -m pydron
    replay reads it back (8 leaves, 4 joins each reading two leaves, the
    leaves' sizes), replays it on the simulator, and the harness replays
    it on the C executors and the Python systems."""
    from conftest import require_local
    require_local()
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    rec = tmp_path / "run.jsonl"
    p = _run(str(prog), PYDRON_RECORD=rec, PYDRON_EXECUTOR="local", PYDRON_WORKERS=2)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(sum(1000 * (i + 1) + 1000 * (i + 2) for i in range(0, 8, 2)))

    g, num, counts = graphs.read_record(rec)
    labels = [t.label for t in g.tasks]
    assert sorted(labels) == ["join"] * 4 + ["leaf"] * 8
    joins = [t for t in g.tasks if t.label == "join"]
    assert all(len(t.deps) == 2 for t in joins)
    assert g.edges() == 8
    leaf_sizes = sorted(g.tasks[d].out_bytes for t in joins for d in t.deps)
    # pickled bytes objects: each a little over its length
    for got, want in zip(leaf_sizes, [1000 * (i + 1) for i in range(8)]):
        assert want <= got < want + 200
    assert all(t.duration >= 0.015 for t in g.tasks if t.label == "leaf")
    assert g.workers == 2 and g.makespan >= g.critical_path() * 0.9

    r = _run("-m", "pydron", "replay", str(rec), "--json", "--workers", "2",
             "--policy", "fifo,heft")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[0]["tasks"] == 12 and lines[0]["edges"] == 8 and lines[0]["graph"] == num
    for x in lines[1:]:
        assert x["tasks"] == 12 and x["executor"] == "sim"
        # the replay cannot beat the critical path nor take longer than serial work
        assert g.critical_path() * 0.99 <= x["makespan_s"] <= g.work * 1.5 + 0.01
    assert [x["policy"] for x in lines[1:]] == ["fifo", "heft"]

    # --calibrate: driver overhead and latency measured on local workers, the
    # task overhead from the record's own gaps between tasks
    r = _run("-m", "pydron", "replay", str(rec), "--json", "--workers", "2",
             "--policy", "fifo", "--calibrate")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    cal = lines[1]["calibration"]
    assert set(cal) == {"latency", "driver_overhead", "task_overhead"}
    assert cal["driver_overhead"] > 0 and cal["latency"] >= 0 and cal["task_overhead"] >= 0
    assert lines[2]["policy"] == "fifo" and lines[2]["tasks"] == 12
    assert g.critical_path() * 0.99 <= lines[2]["makespan_s"] <= g.work * 1.5 + 0.1

    out = tmp_path / "out"
    r = _run("-m", "pydron.bench", "--replay", str(rec), "--systems",
             "pydron-sim,pydron-threads,sequential", "--policies", "fifo,heft",
             "--policy-executors", "sim", "--kernel", "sleep", "--out", str(out), "--no-plots")
    assert r.returncode == 0, r.stderr[-3000:]
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    got = {(row["system"], row["policy"]) for row in rows}
    assert got == {("pydron-sim", "fifo"), ("pydron-sim", "heft"), ("pydron-threads", "fifo"),
                   ("sequential", "")}, got
    assert all(int(row["tasks"]) == 12 for row in rows)
    seq = next(row for row in rows if row["system"] == "sequential")
    assert float(seq["makespan"]) >= g.work * 0.9
    summary = (out / "summary.md").read_text()
    assert "Replayed graph" in summary and "12 tasks, 8 edges" in summary


# ------------------------------------------------------------------ calibration


def test_calibration_reads_late_and_gap_from_a_record(tmp_path):
    """task_overhead = how late a task ended beyond its duration + the gap
    between tasks on a worker that had its next task ready; medians, over
    the largest graph (the one-task warm-up graph is not it)."""
    from pydron.bench import calibrate

    ms = 1_000_000
    lines = [{"pydron_record": 1, "pid": 1},
             {"graph": 1, "task": 1, "state": "done", "worker": 0, "queued_ns": 0,
              "start_ns": 5 * ms, "end_ns": 50 * ms}]
    # worker 0: four 1 ms tasks, each 0.1 ms late, 0.02 ms apart, all ready at 0
    t = 100 * ms
    for i in range(4):
        lines.append({"graph": 2, "task": 10 + i, "state": "done", "worker": 0,
                      "queued_ns": 100 * ms, "start_ns": t, "end_ns": t + 1_100_000})
        t += 1_100_000 + 20_000
    # worker 1: one task ready only after the last one ended (an idle wait: no gap)
    lines.append({"graph": 2, "task": 20, "state": "done", "worker": 1, "queued_ns": 100 * ms,
                  "start_ns": 100 * ms, "end_ns": 100 * ms + 1_100_000})
    lines.append({"graph": 2, "task": 21, "state": "done", "worker": 1, "queued_ns": 103 * ms,
                  "start_ns": 104 * ms, "end_ns": 104 * ms + 1_100_000})
    # a task the driver ran, and a canceled one: not counted
    lines.append({"graph": 2, "task": 30, "state": "done", "worker": -1, "queued_ns": 0,
                  "start_ns": 0, "end_ns": 9 * ms})
    lines.append({"graph": 2, "task": 31, "state": "canceled", "worker": 0, "queued_ns": 0,
                  "start_ns": 0, "end_ns": 0})
    path = tmp_path / "rec.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    late, gap, n = calibrate.record_costs(str(path), 0.001)
    assert n == 6
    assert late == pytest.approx(100e-6)
    assert gap == pytest.approx(20e-6)
    cal = calibrate.Calibration(task_overhead={0.0: 5e-6, 0.001: 120e-6, 0.01: 150e-6})
    assert cal.overhead_for(0.0009) == 120e-6
    assert cal.overhead_for(None) == 5e-6
