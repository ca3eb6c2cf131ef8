"""Transfers in the trace (PYDRON_TRACE): a worker that takes a task's
input from another worker shows the fetch as a span on its own track, just
before the task it was for; a value brought to the driver is a span on the
driver's transfers track. Read with the same Trace Event Format reader as
test_view (Meta's HTA), on a real run of local workers."""

import json
import subprocess
import sys
import textwrap

from test_view import _assert_tracks_nest, _env, _read_trace

PROGRAM = textwrap.dedent("""
    from pydron import schedule, functional

    @functional
    def make(i):
        return bytes([i]) * 1_000_000

    @functional
    def both(a, b):
        return a[0] + b[0] + len(a) + len(b)

    @schedule
    def main():
        # made together on an idle pair of workers: one on each
        x, y = make(1), make(2)
        # each consumer reads both, so whichever worker it runs on takes
        # one input from the other worker
        return [both(x, y), both(y, x)]

    print(main())
""")


def test_worker_to_worker_fetch_is_a_span_on_the_receiving_worker(tmp_path):
    from conftest import require_local
    require_local()
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    trace = tmp_path / "trace.json"
    p = subprocess.run([sys.executable, str(prog)],
                       env=_env(PYDRON_EXECUTOR="local", PYDRON_WORKERS=2, PYDRON_TRACE=trace),
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[2000003, 2000003]"

    meta, df = _read_trace(trace)
    assert meta["otherData"]["dropped_events"] == 0
    _assert_tracks_nest(df)
    tasks = df[df["cat_s"] == "task"]
    makes = tasks[tasks["name_s"] == "make"]
    assert len(makes) == 2 and set(makes["pid"]) == {2, 3}, "one producer on each worker"
    fetches = df[(df["cat_s"] == "transfer") & (df["pid"] >= 2)]
    assert len(fetches) >= 2, sorted(set(df["name_s"]))
    for _, f in fetches.iterrows():
        other = 5 - f["pid"]   # pid 2 <-> worker 0, pid 3 <-> worker 1
        assert f["name_s"] == f"fetch 1 input from worker {other - 2}", f["name_s"]
        assert f["dur"] > 0
        # the task it was for runs next on the same track
        after = tasks[(tasks["pid"] == f["pid"]) & (tasks["tid"] == f["tid"])
                      & (tasks["ts"] >= f["end"])]
        assert len(after) and after.sort_values("ts").iloc[0]["name_s"] == "both"

    # sizes and ends, from the file itself
    ev = json.loads(trace.read_text())["traceEvents"]
    peer = [e for e in ev if e.get("cat") == "transfer" and e["pid"] >= 2 and e["ph"] == "X"]
    assert peer and all(e["args"]["bytes"] > 1_000_000 and e["args"]["to"] == e["pid"] - 2
                        and e["args"]["from"] == 3 - e["pid"] for e in peer), peer
