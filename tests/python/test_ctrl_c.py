"""Ctrl-C in a @schedule program behaves as in plain Python: KeyboardInterrupt
at once (not after the running tasks), a short traceback of the program's
own frames (no pydron internals), no worker left. Real subprocesses get a
real SIGINT while their tasks sleep for a minute; the program must end long
before any task could have finished (the exit time itself is not asserted,
only that nothing waited for the tasks)."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

import pydron
from conftest import procs_with_env

PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)
TASK_SECONDS = 60

PROGRAMS = {
    # the driver waits for a result (a pure builtin over the results)
    "resolve": """
        @schedule
        def main():
            out = []
            for i in range(4):
                out.append(slow(i))
            return sum(out)

        print(main())
    """,
    # the driver waits at a barrier (unknown code after the calls)
    "barrier": """
        @schedule
        def main():
            out = [slow(i) for i in range(3)]
            report(out)

        def report(xs):
            print(xs)

        main()
    """,
    # the driver is in a deferred print's turn (look-ahead)
    "lookahead": """
        @schedule
        def main():
            for i in range(3):
                x = slow(i)
                print(i, x + 1)

        main()
    """,
}

HEADER = """
import os, sys, time
from pydron import functional, schedule

MARK = sys.argv[1]

@functional
def slow(i):
    open(os.path.join(MARK, f"started-{os.getpid()}-{i}"), "w").close()
    time.sleep(%d)
    return i
""" % TASK_SECONDS


def _default_sigint():
    # a test run in the background inherits SIG_IGN for SIGINT
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(tmp_path, executor, program):
    marker = f"PYDRON_TEST_MARKER_{uuid.uuid4().hex}"
    path = tmp_path / "prog.py"
    path.write_text(HEADER + textwrap.dedent(PROGRAMS[program]))
    mark = tmp_path / "started"
    mark.mkdir()
    env = dict(os.environ, PYDRON_EXECUTOR=executor, PYDRON_WORKERS="2", **{marker: "1"})
    env["PYTHONPATH"] = PKG_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYDRON_DISABLE", None)
    p = subprocess.Popen([sys.executable, str(path), str(mark)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 60
        while not any(mark.iterdir()):  # a task is running
            assert p.poll() is None, p.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no task started"
            time.sleep(0.02)
        time.sleep(0.3)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=TASK_SECONDS / 3)
        except subprocess.TimeoutExpired:
            pytest.fail("Ctrl-C did not end the program: it waits for its tasks")
        elapsed = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out, err, elapsed, marker, str(path)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.parametrize("executor", ["inline", "threads", "local"])
def test_ctrl_c_interrupts_at_once_with_a_short_traceback(tmp_path, executor, program):
    if executor == "local":
        from conftest import require_local

        require_local()
    rc, out, err, elapsed, marker, path = _interrupt(tmp_path, executor, program)
    print(f"{executor}/{program}: exit {elapsed:.2f} s after SIGINT")
    assert rc == -signal.SIGINT, err[-3000:]  # as plain Python: killed by SIGINT
    lines = [l for l in err.splitlines() if l.strip()]
    assert lines[-1] == "KeyboardInterrupt", err[-3000:]
    # only the program's frames (and the one line of the decorator's wrapper)
    files = [l.split('"')[1] for l in lines if l.lstrip().startswith('File "')]
    assert files and files[0] == path, err
    internal = [f for f in files if f.startswith(os.path.dirname(pydron.__file__))]
    assert len(internal) <= 1 and all(f.endswith("__init__.py") for f in internal), err
    assert "_runtime" not in err and "_backend" not in err, err
    deadline = time.monotonic() + 10
    while procs_with_env(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert procs_with_env(marker) == []
