"""A view of every run: the trace (PYDRON_TRACE, read back with a Trace Event
Format reader), the progress display (PYDRON_PROGRESS, on a real terminal),
pydron.stats() and the summary line (PYDRON_STATS), and the graph of the
whole run (PYDRON_GRAPH). Real programs in child processes."""

import ast
import fcntl
import os
import pathlib
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import textwrap

import pytest

import pydron

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)


def _env(**kw):
    env = {"PYTHONPATH": PKG_ROOT, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/tmp")}
    env.update({k: str(v) for k, v in kw.items()})
    return env


def _functional_names(path):
    """Names of the @functional functions of a program (its source says)."""
    tree = ast.parse(pathlib.Path(path).read_text())
    return {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
            and any(getattr(d, "id", None) == "functional" for d in f.decorator_list)}


def _read_trace(path):
    """Task and driver spans as a DataFrame, through HTA's trace parser."""
    from hta.common.trace_parser import parse_trace_dataframe
    from hta.configs.parser_config import ParserBackend, ParserConfig

    cfg = ParserConfig(ParserConfig.get_minimum_args())
    cfg.set_parser_backend(ParserBackend.JSON)
    meta, df, sym = parse_trace_dataframe(str(path), cfg)
    names = sym.sym_table
    df = df.assign(name_s=[names[i] for i in df["name"]], cat_s=[names[i] for i in df["cat"]])
    return meta, df


def _assert_tracks_nest(df):
    """On every track, spans are disjoint or nested, never crossing (what
    Perfetto needs to draw them)."""
    for (pid, tid), spans in df.groupby(["pid", "tid"]):
        stack = []
        for ts, end in sorted(zip(spans["ts"], spans["end"]), key=lambda x: (x[0], -x[1])):
            while stack and stack[-1] <= ts:
                stack.pop()
            assert not stack or end <= stack[-1], \
                f"spans cross on track pid={pid} tid={tid}: one ends at {stack[-1]}, " \
                f"the next runs {ts}..{end}"
            stack.append(end)


def test_trace_of_transits(tmp_path):
    """The issue's done-criterion: one environment variable gives a trace
    of examples/transits.py that a Trace Event Format reader opens, with a
    track per worker, task spans named by function, driver waits."""
    from conftest import require_local
    require_local()
    trace = tmp_path / "trace.json"
    script = ROOT / "examples" / "transits.py"
    p = subprocess.run([sys.executable, str(script), "--stars", "6", "--periods", "200"],
                       env=_env(PYDRON_EXECUTOR="local", PYDRON_WORKERS=2,
                                PYDRON_TRACE=trace, PYDRON_STATS=1),
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    assert "same results: True" in p.stdout
    m = re.search(r"^pydron: (\d+) tasks \((\d+) done, 0 failed, 0 retried\) on 2 local workers",
                  p.stderr, re.M)
    assert m, p.stderr
    ntasks = int(m.group(1))
    assert ntasks > 0 and int(m.group(2)) == ntasks

    meta, df = _read_trace(trace)
    assert meta["otherData"]["dropped_events"] == 0
    tasks = df[df["cat_s"] == "task"]
    assert len(tasks) == ntasks, "one span per task"
    fns = _functional_names(script)
    assert set(tasks["name_s"]) == fns, "spans are named by the program's functions"
    workers = set(tasks["pid"])
    assert workers and all(pid >= 2 for pid in workers), "tasks run on worker tracks"
    assert len(workers) == 2, "both workers ran tasks"
    driver = df[(df["pid"] == 1) & (df["tid"] == 1)]
    assert any(n.startswith("wait ") for n in driver["name_s"]), \
        f"no driver wait in {sorted(set(driver['name_s']))}"
    waited = {n[len("wait "):] for n in driver["name_s"] if n.startswith("wait ")}
    assert waited <= fns | {"value"}
    assert (tasks["dur"] > 0).all()
    _assert_tracks_nest(df)
    # every span lies within the trace's time and after the trace started
    assert (df["ts"] >= 0).all()

    # the track names are there for the viewer (metadata events)
    import json
    ev = json.loads(trace.read_text())["traceEvents"]
    procs = {e["pid"]: e["args"]["name"] for e in ev if e.get("name") == "process_name"}
    assert procs[1] == "driver"
    assert {procs[pid] for pid in workers} == {"worker 0", "worker 1"}


PROGRAM = textwrap.dedent("""
    import os, sys, time
    from pydron import schedule, functional
    import pydron

    GATE = GATE_PATH
    END = time.time() + 60   # the gate's deadline: a missing bar fails, not hangs

    @functional
    def slow(i):
        # with a gate: hold until the test saw the bar (a gate makes the
        # call last until then on any machine, however slow or fast)
        while GATE and not os.path.exists(GATE) and time.time() < END:
            time.sleep(0.01)
        time.sleep(SLEEP)
        return i * i

    @functional
    def add(a, b):
        return a + b

    @schedule
    def main(n):
        xs = [slow(i) for i in range(n)]
        total = 0
        for x in xs:
            total = add(total, x)
        return total

    n = int(sys.argv[1])
    print(main(n))
    st = pydron.stats()
    print("STATS", st["tasks"], st["done"], st["failed"], st["bytes_moved"],
          st["driver_wait_s"] > 0)
""")


def _program(tmp_path, sleep=0.05, gate=None):
    """gate: a path the slow tasks wait for (see _open_on_bar), else None."""
    f = tmp_path / "prog.py"
    f.write_text(PROGRAM.replace("SLEEP", repr(sleep))
                 .replace("GATE_PATH", repr(None if gate is None else str(gate))))
    return f


def _open_on_bar(*gates, after=()):
    """For _run_pty's on_output: create gates[k] once the bar ("pydron:")
    was drawn after the text after[k] (from the start if none), so that the
    tasks of a call hold until its bar showed: no race between the bar's
    delay and the call's length."""
    after = list(after) + [None] * (len(gates) - len(after))

    def on_output(out):
        for gate, mark in zip(gates, after):
            if mark is not None:
                if mark not in out:
                    continue
                out = out.split(mark, 1)[1]
            if "pydron:" in out and not os.path.exists(gate):
                open(gate, "w").close()
    return on_output


def _run_pty(argv, env, timeout=120, size=(30, 100), on_output=None):
    """Run with stdout and stderr on a pseudo-terminal: what a person sees.
    on_output(text so far) is called as output comes."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    try:
        while True:
            r, _, _ = select.select([master], [], [], timeout)
            if not r:
                p.kill()
                raise AssertionError("no output for %s s: %r" % (timeout, out[-500:]))
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if on_output is not None:
                on_output(out.decode(errors="replace"))
    finally:
        os.close(master)
        p.wait(timeout)
    return p.returncode, out.decode(errors="replace")


def _run_stderr_pipe(argv, env, on_output, timeout=120):
    """Run with stderr on a pipe read as it comes (on_output(text so far)),
    stdout discarded; returns the exit code and stderr."""
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    err = b""
    try:
        while True:
            r, _, _ = select.select([p.stderr], [], [], timeout)
            if not r:
                p.kill()
                raise AssertionError("no output for %s s: %r" % (timeout, err[-500:]))
            chunk = os.read(p.stderr.fileno(), 65536)
            if not chunk:
                break
            err += chunk
            on_output(err.decode(errors="replace"))
    finally:
        p.stderr.close()
        p.wait(timeout)
    return p.returncode, err.decode(errors="replace")


def test_progress_on_a_terminal(tmp_path):
    gate = tmp_path / "bar-seen"
    prog = _program(tmp_path, gate=gate)
    rc, out = _run_pty([sys.executable, str(prog), "30"],
                       _env(PYDRON_EXECUTOR="threads", PYDRON_WORKERS=2),
                       on_output=_open_on_bar(gate))
    assert rc == 0, out
    assert str(sum(i * i for i in range(30))) in out
    # tqdm's bar: counts against the tasks submitted (30 slow + 30 add)
    assert re.search(r"pydron: .*\b60/60\b", out), out
    assert "task/s" in out or "s/task" in out, out


TWO_CALLS = textwrap.dedent("""
    import os, sys, time
    from pydron import schedule, functional

    END = time.time() + 60   # the gates' deadline: a missing bar fails, not hangs

    @functional
    def slow(i, gate):
        # each call's tasks hold until the test saw that call's bar
        while not os.path.exists(gate) and time.time() < END:
            time.sleep(0.01)
        time.sleep(0.05)
        return i

    @schedule
    def main(n, gate):
        return sum([slow(i, gate) for i in range(n)])

    print("FIRST", main(30, sys.argv[1]), flush=True)
    time.sleep(1.5)   # plain code between the calls: no bar over it
    print("BETWEEN", flush=True)
    print("SECOND", main(30, sys.argv[2]), flush=True)
""")


def test_progress_cleared_between_schedule_calls(tmp_path):
    """The bar belongs to a @schedule call: when the call returns the line
    is cleared (the program's next print starts on a clean line) and
    nothing is redrawn while plain code runs; the next call shows it again."""
    prog = tmp_path / "two.py"
    prog.write_text(TWO_CALLS)
    g1, g2 = tmp_path / "bar1", tmp_path / "bar2"
    rc, out = _run_pty([sys.executable, str(prog), str(g1), str(g2)],
                       _env(PYDRON_EXECUTOR="threads", PYDRON_WORKERS=2, PYDRON_PROGRESS=1),
                       on_output=_open_on_bar(g1, g2, after=(None, "BETWEEN")))
    assert rc == 0, out
    first, rest = out.split("FIRST 435", 1)
    between, second = rest.split("BETWEEN", 1)
    assert "pydron:" in first, "the first call showed a bar: " + repr(first)
    assert "pydron:" not in between, "redrawn while plain code ran: " + repr(between)
    # what the terminal shows on the print's line: nothing of the bar
    lines = [ln.split("\r")[-1].rstrip() for ln in out.replace("\r\n", "\n").split("\n")]
    assert "FIRST 435" in lines and "SECOND 435" in lines, lines
    assert "pydron:" in second.split("SECOND 435")[0], "the second call showed its bar"


def test_progress_on_a_terminal_without_size(tmp_path):
    """A terminal that reports 0 columns (some CI consoles) still gets a bar."""
    gate = tmp_path / "bar-seen"
    prog = _program(tmp_path, gate=gate)
    rc, out = _run_pty([sys.executable, str(prog), "30"],
                       _env(PYDRON_EXECUTOR="threads", PYDRON_WORKERS=2), size=(0, 0),
                       on_output=_open_on_bar(gate))
    assert rc == 0, out
    assert re.search(r"pydron: .*\b60/60\b", out), out


def test_progress_quiet_when_not_a_terminal_or_off(tmp_path):
    prog = _program(tmp_path)
    p = subprocess.run([sys.executable, str(prog), "30"],
                       env=_env(PYDRON_EXECUTOR="threads", PYDRON_WORKERS=2),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", "no display when stderr is not a terminal"
    rc, out = _run_pty([sys.executable, str(prog), "30"],
                       _env(PYDRON_EXECUTOR="threads", PYDRON_WORKERS=2, PYDRON_PROGRESS=0))
    assert rc == 0
    assert "60/60" not in out and "task/s" not in out, out


def test_progress_forced_without_tqdm(tmp_path):
    """PYDRON_PROGRESS=1 shows it on a pipe too; without tqdm a plain line."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "tqdm.py").write_text("raise ImportError('tqdm hidden by the test')\n")
    env = _env(PYDRON_EXECUTOR="threads", PYDRON_WORKERS=2, PYDRON_PROGRESS=1)
    env["PYTHONPATH"] = f"{block}{os.pathsep}{PKG_ROOT}"
    gate = tmp_path / "bar-seen"
    prog = _program(tmp_path, gate=gate)
    rc, err = _run_stderr_pipe([sys.executable, str(prog), "30"], env, _open_on_bar(gate))
    assert rc == 0, err
    assert re.search(r"pydron: 60/60 tasks, [0-9.]+ tasks/s", err), err


def test_bad_progress_setting_is_a_clear_error(tmp_path):
    prog = _program(tmp_path, sleep=0)
    p = subprocess.run([sys.executable, str(prog), "2"],
                       env=_env(PYDRON_EXECUTOR="threads", PYDRON_PROGRESS="maybe"),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "PYDRON_PROGRESS must be 0 or 1, not 'maybe'" in p.stderr


def test_stats_and_summary_line(tmp_path):
    prog = _program(tmp_path)
    p = subprocess.run([sys.executable, str(prog), "10"],
                       env=_env(PYDRON_EXECUTOR="threads", PYDRON_WORKERS=2, PYDRON_STATS=1),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    # in the program: 10 slow + 10 add tasks, all done; threads move no bytes
    assert "STATS 20 20 0 0 True" in p.stdout, p.stdout
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert re.fullmatch(r"pydron: 20 tasks \(20 done, 0 failed, 0 retried\) on \d+ threads "
                        r"workers? in [0-9.]+ s; 0 B moved; driver waited [0-9.]+ s", lines[0]), \
        lines[0]


def test_stats_count_failures_and_bytes_moved(tmp_path):
    from conftest import require_local
    require_local()
    f = tmp_path / "p.py"
    f.write_text(textwrap.dedent("""
        import numpy as np
        from pydron import schedule, functional
        import pydron

        @functional
        def total(a):
            return float(a.sum())

        @functional
        def boom(x):
            raise ValueError("no")

        @schedule
        def main(a):
            s = [total(a) for _ in range(3)]
            try:
                boom(1)
            except ValueError:
                pass
            return sum(s)

        a = np.ones(1 << 20)
        print(main(a))
        st = pydron.stats()
        print("STATS", st["tasks"], st["failed"], st["bytes_to_workers"] >= a.nbytes,
              st["bytes_moved"] >= a.nbytes)
    """))
    p = subprocess.run([sys.executable, str(f)],
                       env=_env(PYDRON_EXECUTOR="local", PYDRON_WORKERS=2),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "STATS 4 1 True True" in p.stdout, p.stdout


def test_stats_before_any_run_are_zero():
    st = pydron.stats()
    assert set(st) >= {"tasks", "done", "failed", "retried", "bytes_moved", "driver_wait_s"}


def _dot_graph(text):
    nodes = dict(re.findall(r'^\s*(r\d+) \[label="([^"]*)"', text, re.M))
    edges = re.findall(r"^\s*(r\d+) -> (r\d+);", text, re.M)
    return nodes, edges


def test_graph_of_the_whole_run(tmp_path):
    prog = _program(tmp_path, sleep=0)
    out = tmp_path / "run.dot"
    p = subprocess.run([sys.executable, str(prog), "5"],
                       env=_env(PYDRON_EXECUTOR="threads", PYDRON_GRAPH=out),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    nodes, edges = _dot_graph(out.read_text())
    # every task of the run, finished ones included (the program dropped
    # every result): 5 slow, 5 add, all done on the worker
    labels = sorted(l.split("\\n")[0] for l in nodes.values())
    assert labels == ["add"] * 5 + ["slow"] * 5, nodes
    assert all(l.split("\\n")[1].startswith("done @w") for l in nodes.values()), nodes
    # add #k reads slow #k and the previous add (the first add reads 0): 5 + 4 edges
    assert len(edges) == 9
    by = {n: l.split("\\n")[0] for n, l in nodes.items()}
    assert all(by[b] == "add" for a, b in edges)
    assert sorted(by[a] for a, b in edges) == ["add"] * 4 + ["slow"] * 5


def test_graph_shows_failures(tmp_path):
    f = tmp_path / "p.py"
    f.write_text(textwrap.dedent("""
        from pydron import schedule, functional

        @functional
        def boom(x):
            raise ValueError(x)

        @functional
        def inc(x):
            return x + 1

        @schedule
        def main():
            try:
                return inc(boom(1))
            except ValueError:
                return -1

        print(main())
    """))
    out = tmp_path / "run.dot"
    p = subprocess.run([sys.executable, str(f)],
                       env=_env(PYDRON_EXECUTOR="threads", PYDRON_GRAPH=out),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    nodes, edges = _dot_graph(text)
    assert sorted(nodes.values()) == ["boom\\nfailed @w0", "inc\\nfailed"], nodes
    assert len(edges) == 1 and text.count("color=red") == 2


def test_graph_as_svg(tmp_path):
    prog = _program(tmp_path, sleep=0)
    out = tmp_path / "run.svg"
    p = subprocess.run([sys.executable, str(prog), "3"],
                       env=_env(PYDRON_EXECUTOR="threads", PYDRON_GRAPH=out),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    if shutil.which("dot"):
        assert out.read_text().lstrip().startswith(("<?xml", "<svg")), out.read_text()[:200]
        assert "slow" in out.read_text()
    else:  # without Graphviz: the DOT text next to it, and the user is told
        assert not out.exists()
        assert "Graphviz 'dot' is not installed" in p.stderr
        nodes, edges = _dot_graph((tmp_path / "run.dot").read_text())
        assert len(nodes) == 6 and len(edges) == 5
