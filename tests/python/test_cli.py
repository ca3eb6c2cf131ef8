"""python -m pydron: run, info, worker, --help (real processes)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import pydron


def cli(*args, cwd=None, env=None, timeout=120):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("PYDRON_"):
            del e[k]
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "pydron", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


PROGRAM = textwrap.dedent("""\
    import os, sys
    from pydron import functional, schedule

    @functional
    def square(x):
        return x * x

    @schedule
    def main(n):
        return sum(square(i) for i in range(n))

    print("argv", sys.argv[1:])
    print("path0", sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
    for k in ("PYDRON_EXECUTOR", "PYDRON_WORKERS", "PYDRON_POLICY", "PYDRON_TRACE",
              "PYDRON_PROGRESS", "PYDRON_DISABLE"):
        print(k, os.environ.get(k))
    print("result", main(int(sys.argv[1])))
    sys.exit(int(sys.argv[2]) if sys.argv[2:] and sys.argv[2].isdigit() else 0)
    """)


@pytest.fixture
def prog(tmp_path):
    p = tmp_path / "prog.py"
    p.write_text(PROGRAM)
    return p


def test_run_passes_options_as_environment(prog, tmp_path):
    r = cli("run", "--executor", "threads", "--workers", "3", "--policy", "critical-path",
            "--trace", "t.json", "--progress", str(prog), "10", "--not-ours",
            cwd=tmp_path, env={"PYDRON_DISABLE": "1"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines == [
        "argv ['10', '--not-ours']",   # other options after the script are the script's
        "path0 True",
        "PYDRON_EXECUTOR threads",
        "PYDRON_WORKERS 3",
        "PYDRON_POLICY critical-path",
        f"PYDRON_TRACE {tmp_path / 't.json'}",
        "PYDRON_PROGRESS 1",
        "PYDRON_DISABLE None",
        f"result {sum(i * i for i in range(10))}",
    ]


def test_run_takes_its_long_options_after_the_script_too(prog, tmp_path):
    # `python -m pydron run examples/transits.py --trace t.json`: pydron's long
    # options after the script are pydron's; after `--` they are the script's
    r = cli("run", str(prog), "10", "--trace", "t.json", "--executor=threads", "--progress",
            "--workers", "2", "--not-ours", "--", "--trace", "x",
            cwd=tmp_path, env={"PYDRON_DISABLE": "1"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "argv ['10', '--not-ours', '--trace', 'x']"
    assert "PYDRON_EXECUTOR threads" in lines and "PYDRON_WORKERS 2" in lines
    assert f"PYDRON_TRACE {tmp_path / 't.json'}" in lines and "PYDRON_PROGRESS 1" in lines


def test_run_default_executor_runs_tasks_on_local_workers(prog, tmp_path):
    r = cli("run", "--workers", "2", str(prog), "20", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"result {sum(i * i for i in range(20))}" in r.stdout.splitlines()
    assert "PYDRON_EXECUTOR None" in r.stdout.splitlines()  # config's default: local


def test_run_keeps_the_scripts_exit_status(prog, tmp_path):
    r = cli("run", "-e", "inline", str(prog), "3", "7", cwd=tmp_path)
    assert r.returncode == 7
    assert "result 5" in r.stdout


def test_run_module(tmp_path):
    (tmp_path / "modprog.py").write_text(PROGRAM)
    r = cli("run", "-e", "inline", "-m", "modprog", "4", cwd=tmp_path,
            env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "result 14" in r.stdout.splitlines()


@pytest.mark.parametrize("args, message", [
    (["run", "nothere.py"], "no such script: nothere.py"),
    (["run"], "give a script (or -m MODULE) to run"),
    (["run", "--executor", "gpu", "x.py"], "invalid choice: 'gpu'"),
    (["run", "--workers", "-1", "x.py"], "--workers must be >= 0"),
    (["run", "x.py", "--workers", "many"], "--workers needs a number, not 'many'"),
    (["run", "x.py", "--executor", "gpu"], "--executor must be one of"),
    (["run", "x.py", "--trace"], "--trace needs a value"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_input_gets_a_clear_error(args, message, tmp_path):
    (tmp_path / "x.py").write_text("print('ran')\n")
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr, r.stderr
    assert "ran" not in r.stdout


def test_help_lists_every_command_and_each_has_its_own():
    from pydron._cli import COMMANDS

    r = cli("--help")
    assert r.returncode == 0
    for name, _mod, summary in COMMANDS:
        assert f"{name} " in r.stdout and summary in r.stdout
    r = cli("run", "--help")
    assert r.returncode == 0
    for opt in ("--executor", "--workers", "--trace", "--progress", "PYDRON_TRACE"):
        assert opt in r.stdout
    r = cli("info", "--help")
    assert r.returncode == 0 and "--json" in r.stdout
    r = cli("worker", "--help")
    assert r.returncode == 0 and "--connect" in r.stdout


def test_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"pydron {pydron.__version__}"


def test_info_reports_what_is_here():
    r = cli("info", "--json", env={"PYDRON_WORKERS": "3", "PYDRON_SECRET": "hunter2-hunter2"})
    assert r.returncode == 0, r.stderr
    f = json.loads(r.stdout)
    from pydron import _core

    assert f["pydron"] == pydron.__version__
    assert f["libpydron"] == _core.version_string()
    assert f["executors"]["local"].startswith("yes"), f["executors"]
    assert f["workers"].startswith("3 ")
    assert f["environment"]["PYDRON_SECRET"] == "<set>"      # never the secret itself
    assert "hunter2" not in r.stdout
    assert any("nng" in p for p in f["libraries"]), f["libraries"]
    assert "stderr" in f["logs"]["driver"]
    r = cli("info", "--no-probe")
    assert r.returncode == 0 and "not checked" in r.stdout


def test_worker_subcommand_is_the_worker():
    # A worker pointed at a driver that is not there fails with the worker's own error.
    r = cli("worker", "--connect", "ipc:///nonexistent/pydron-cli-test", "--no-exit-with-parent",
            "--connect-timeout", "1", timeout=60)
    r2 = subprocess.run([sys.executable, "-m", "pydron.worker", "--connect",
                         "ipc:///nonexistent/pydron-cli-test", "--no-exit-with-parent",
                         "--connect-timeout", "1"],
                        capture_output=True, text=True, timeout=60)
    assert r.returncode == r2.returncode != 0
    assert r.stderr.splitlines()[-1:] == r2.stderr.splitlines()[-1:]


def _option_help(text):
    """{option: its description, whitespace folded} from an argparse-style
    --help (an option line, its description on the same or following lines)."""
    import re

    opts, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"  (-\S+)(.*)$", line)
        if m:
            names = [w.strip(",") for w in re.split(r"\s+", (m.group(1) + m.group(2)).split("  ")[0])]
            cur = next(n for n in names if n.startswith("--"))
            rest = (m.group(1) + m.group(2))[len((m.group(1) + m.group(2)).split("  ")[0]):]
            opts[cur] = rest.split()
        elif cur and line.startswith("    ") and line.strip():
            opts[cur] += line.split()
        else:
            cur = None
    return {k: " ".join(v) for k, v in opts.items()}


def test_c_worker_help_uses_the_same_words_as_the_python_worker():
    import pathlib

    exe = pathlib.Path(pydron.__file__).parent / "bin" / "pydron-worker"
    if not exe.exists():
        pytest.skip("this install has no C worker")
    c = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    py = cli("worker", "--help", env={"COLUMNS": "80"})
    assert c.returncode == 0 and py.returncode == 0, c.stderr + py.stderr
    copts, pyopts = _option_help(c.stdout), _option_help(py.stdout)
    common = set(copts) & set(pyopts)
    assert {"--help", "--connect", "--secret-file", "--id", "--threads", "--tls-ca",
            "--peer-url", "--restart"} <= common, (copts, pyopts)
    for opt in sorted(common):
        assert copts[opt] == pyopts[opt], (opt, copts[opt], pyopts[opt])
    # the C worker's own options are described too, and bad numbers are refused
    assert copts.get("--load") and copts.get("--exit-with-parent")
    r = subprocess.run([exe, "--threads", "many", "--connect", "ipc:///x"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--threads needs a whole number" in r.stderr, r.stderr
