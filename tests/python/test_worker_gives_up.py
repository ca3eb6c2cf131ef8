"""A worker that gives up on a silent driver ("no word from the driver ...
giving up", issue 10) becomes a recovery or an exception in the driver, never
a hang.

The driver process is stopped (SIGSTOP) while its task runs, longer than the
worker waits for a word from it (10 heartbeats, at least 3 s; the heartbeat is
shortened with PYDRON_HEARTBEAT_MS). When it goes on, the worker has given up
and closed the link: the task runs again on a replacement worker and the
program prints the sequential result; once the task has lost its worker more
often than PYDRON_MAX_RETRIES allows, the program gets an exception naming the
task. Real processes and signals, no mocks."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import pydron

PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)

PROGRAM = textwrap.dedent("""\
    import os
    import sys
    import time

    from pydron import functional, schedule

    MARKS = sys.argv[1]


    @functional
    def slow(x, seconds):
        # tells the test which worker process runs it, then works a while
        open(os.path.join(MARKS, str(os.getpid())), "w").close()
        time.sleep(seconds)
        return x * 2


    @schedule
    def main():
        return slow(21, float(sys.argv[2])) + 1


    print(main(), flush=True)
""")

GIVE_UP_S = 30  # deadline for the worker to give up (it waits 3 s with a 200 ms heartbeat)


class _Run:
    """The program in a subprocess; stderr read as it comes."""

    def __init__(self, tmp_path, task_s, retries):
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        prog = tmp_path / "prog.py"
        prog.write_text(PROGRAM)
        env = dict(os.environ)
        env["PYTHONPATH"] = PKG_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("PYDRON_DISABLE", None)
        env.update(PYDRON_EXECUTOR="local", PYDRON_WORKERS="1", PYDRON_HEARTBEAT_MS="200",
                   PYDRON_MAX_RETRIES=str(retries))
        self.p = subprocess.Popen([sys.executable, str(prog), str(self.marks), str(task_s)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        self.err = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.p.stderr:
            self.err.append(line)

    def stderr(self):
        return "".join(self.err)

    def wait_started(self, n, timeout=60):
        """Until n worker processes have started the task."""
        end = time.monotonic() + timeout
        while len(os.listdir(self.marks)) < n:
            assert self.p.poll() is None, f"ended early:\n{self.stderr()}"
            assert time.monotonic() < end, f"task not started {n} times:\n{self.stderr()}"
            time.sleep(0.05)
        time.sleep(0.3)  # inside its sleep

    def stall_driver(self):
        """The driver says nothing until the worker has given up (one more
        "giving up" on stderr: the local worker writes to the same pipe,
        which the reader thread drains while the driver is stopped), or
        GIVE_UP_S passed (the test then fails on its "giving up" count)."""
        before = self.stderr().count("giving up")
        self.p.send_signal(signal.SIGSTOP)
        try:
            end = time.monotonic() + GIVE_UP_S
            while self.stderr().count("giving up") <= before and time.monotonic() < end:
                time.sleep(0.05)
        finally:
            self.p.send_signal(signal.SIGCONT)

    def finish(self, timeout=60):
        try:
            self.p.wait(timeout)  # stdout is one line: no pipe fills up
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            pytest.fail(f"the driver hangs after its worker gave up:\n{self.stderr()}")
        self._t.join(5)
        return self.p.stdout.read(), self.stderr()


def test_gave_up_worker_is_replaced_and_result_unchanged(tmp_path):
    run = _Run(tmp_path, task_s=8, retries=3)
    run.wait_started(1)
    run.stall_driver()
    out, err = run.finish()
    assert "giving up" in err, err  # the worker did give up on the stalled driver
    assert run.p.returncode == 0, err
    assert out == "43\n"  # as sequential: the task ran again on a replacement
    assert len(os.listdir(run.marks)) == 2, err


def test_worker_giving_up_too_often_is_an_exception(tmp_path):
    run = _Run(tmp_path, task_s=60, retries=1)
    run.wait_started(1)
    run.stall_driver()
    run.wait_started(2)  # the replacement runs it again (1 retry allowed)
    run.stall_driver()
    t0 = time.monotonic()
    out, err = run.finish()
    assert err.count("giving up") == 2, err
    assert run.p.returncode == 1, err
    assert out == ""
    exc = [l for l in err.splitlines() if l.startswith("pydron.TaskError:")]
    assert len(exc) == 1 and exc[0].startswith(
        "pydron.TaskError: slow(): its task lost its worker 2 times (max_retries=1)"), err
    assert time.monotonic() - t0 < 30, err  # not the task's 60 s: the driver did not wait for it
