"""Errors that help (issue 10): what a failing program prints, read from real
subprocesses.

- a task's frames name the program's file and line, so the source line shows
  (they read '<dynamic-code>');
- the driver part of the traceback points at the call that failed (it
  pointed at the next place a result was read) and shows no pydron frames;
- a task returning something unpicklable names the function;
- a @schedule function without source (`python -c`, `python -`, exec(),
  `python -i`) gives pydron.TranslationError saying how to get going."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import pydron

PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)
PKG_DIR = os.path.dirname(pydron.__file__)

FAILING = textwrap.dedent("""\
    from pydron import functional, schedule


    def helper(x):
        return 1 / x


    @functional
    def divide(x):
        y = x * 2
        return helper(y - y)


    @schedule
    def main():
        a = divide(1)
        b = divide(2)
        print("before")
        total = a + b
        return total


    print(main())
""")


def _env(executor=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYDRON_DISABLE", None)
    if executor:
        env["PYDRON_EXECUTOR"] = executor
        env["PYDRON_WORKERS"] = "2"
    return env


def _run(args, executor=None, stdin=None, cwd=None):
    return subprocess.run([sys.executable] + args, env=_env(executor), input=stdin, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _frames(text):
    """(file, line, function) of each 'File' line, in order."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith('File "'):
            f = s.split('"')[1]
            rest = s.split('", line ')[1]
            out.append((f, int(rest.split(",")[0]), rest.split(" in ")[-1]))
    return out


@pytest.mark.parametrize("executor", ["inline", "threads", "local"])
def test_task_failure_traceback(tmp_path, executor):
    prog = tmp_path / "prog.py"
    prog.write_text(FAILING)
    p = _run([str(prog)], executor)
    assert p.returncode == 1
    err = p.stderr
    assert err.splitlines()[-1] == "ZeroDivisionError: division by zero", err
    assert "<dynamic-code>" not in err, err
    remote, _, driver = err.partition("The above exception was the direct cause")
    # the task's frames: the program's file and lines, with their source lines
    assert _frames(remote) == [(str(prog), 11, "divide"), (str(prog), 5, "helper")], err
    assert "return helper(y - y)" in remote and "return 1 / x" in remote, err
    # the driver's part: the call that failed (line 16), not the first read
    # of its result (line 19), and no runtime frames
    fr = _frames(driver)
    assert fr[0] == (str(prog), 23, "<module>"), err
    assert fr[-1] == (str(prog), 16, "main"), err
    assert "a = divide(1)" in driver, err
    assert "total = a + b" not in driver, err
    internal = [f for f in fr if f[0].startswith(PKG_DIR)]
    assert len(internal) <= 1, err  # the decorator's one line
    assert "_runtime" not in err and "_backend" not in err, err
    assert "before" not in p.stdout  # as sequential: it fails before the print


UNPICKLABLE = textwrap.dedent("""\
    from pydron import functional, schedule


    @functional
    def numbers(n):
        return (i * i for i in range(n))


    @schedule
    def main():
        g = numbers(3)
        return list(g)


    print(main())
""")


@pytest.mark.parametrize("executor", ["inline", "threads", "local"])
def test_unpicklable_result_names_the_function(tmp_path, executor):
    prog = tmp_path / "prog.py"
    prog.write_text(UNPICKLABLE)
    p = _run([str(prog)], executor)
    assert p.returncode == 1
    last = p.stderr.splitlines()[-1]
    assert last == ("TypeError: numbers(): its result cannot be pickled: "
                    "TypeError: cannot pickle 'generator' object"), p.stderr
    # short: no pickler internals (it was 64 lines)
    assert len(p.stderr.splitlines()) < 20, p.stderr
    assert "cloudpickle" not in p.stderr, p.stderr
    assert "_serialize.py" not in p.stderr, p.stderr


SCHEDULED = "from pydron import schedule\n@schedule\ndef main():\n    return 1\n"


def _check_translation_error(err):
    lines = [l for l in err.splitlines() if l.strip() and l.strip() != ">>>"]
    last = lines[-1]
    assert last.startswith("pydron.TranslationError: "), err
    assert "put it in a .py file" in last and "PYDRON_DISABLE=1" in last, err
    assert "_translate" not in err, err  # no frames of the translator
    internal = [f for f in _frames(err) if f[0].startswith(PKG_DIR)]
    assert len(internal) <= 1, err


@pytest.mark.parametrize("how", ["-c", "-", "exec", "-i"])
def test_no_source_gives_translation_error_saying_what_to_do(tmp_path, how):
    if how == "-c":
        p = _run(["-c", SCHEDULED])
    elif how == "-":
        p = _run(["-"], stdin=SCHEDULED)
    elif how == "exec":
        prog = tmp_path / "prog.py"
        prog.write_text(f"exec({SCHEDULED!r})\n")
        p = _run([str(prog)])
    else:
        p = _run(["-i"], stdin=SCHEDULED + "\n")
    _check_translation_error(p.stderr)


def test_translation_error_is_the_public_class():
    from pydron._translate import TranslationError

    assert pydron.TranslationError is TranslationError
    assert TranslationError.__module__ == "pydron"


DEFERRED = textwrap.dedent("""\
    from pydron import functional, schedule


    @functional
    def word(i):
        return "x" if i == 2 else str(i)


    @schedule
    def main():
        total = 0
        for i in range(4):
            w = word(i)
            total += int(w)
            print("step", i)
        return total


    print(main())
""")


@pytest.mark.parametrize("executor", ["inline", "threads", "local"])
def test_failing_deferred_statement_points_at_its_line(tmp_path, executor):
    """int(w) over a result not computed yet is deferred (look-ahead); when it
    fails, the traceback shows its line, as plain Python's does."""
    prog = tmp_path / "prog.py"
    prog.write_text(DEFERRED)
    p = _run([str(prog)], executor)
    assert p.returncode == 1
    assert p.stdout == "step 0\nstep 1\n"
    assert p.stderr.splitlines()[-1] == "ValueError: invalid literal for int() with base 10: 'x'"
    fr = _frames(p.stderr)
    assert fr[0] == (str(prog), 19, "<module>"), p.stderr
    assert fr[-1] == (str(prog), 14, "main"), p.stderr
    assert "_runtime" not in p.stderr and "_backend" not in p.stderr, p.stderr


RETURNED = textwrap.dedent("""\
    from pydron import functional, schedule


    @functional
    def divide(x):
        return 1 / x


    @schedule
    def main():
        a = divide(0)
        return a


    print(main())
""")


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_failure_surfacing_after_return_points_at_the_call(tmp_path, executor):
    """The result is only needed once main() has returned (its frame is gone):
    the traceback still ends at the call, in main, as plain Python's does."""
    prog = tmp_path / "prog.py"
    prog.write_text(RETURNED)
    p = _run([str(prog)], executor)
    assert p.returncode == 1
    remote, _, driver = p.stderr.partition("The above exception was the direct cause")
    fr = _frames(driver)
    assert fr[0] == (str(prog), 15, "<module>"), p.stderr
    assert fr[-1] == (str(prog), 11, "main"), p.stderr
    assert "a = divide(0)" in driver, p.stderr
    assert "_runtime" not in p.stderr and "_backend" not in p.stderr, p.stderr
