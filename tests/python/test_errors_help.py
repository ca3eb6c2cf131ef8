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
    if executor == "oracle":
        env["PYDRON_DISABLE"] = "1"
    elif executor:
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


def _without_decorator(text):
    """The traceback without the @schedule wrapper's frame (its 'File' line and
    the lines under it up to the next 'File' line)."""
    out, skip = [], False
    for line in text.splitlines():
        if line.strip().startswith('File "'):
            skip = line.strip().startswith(f'File "{PKG_DIR}')
        if not skip:
            out.append(line)
    return out


def _code_lines(lines):
    """The traceback's lines without column marks (^^^ ~~^~~): pydron's call
    site shows the call's line, not where in it the call is."""
    return [l for l in lines if l.strip() and set(l.strip()) - set("^~")]


@pytest.mark.parametrize("executor", ["inline", "threads", "local"])
def test_task_failure_traceback(tmp_path, executor):
    prog = tmp_path / "prog.py"
    prog.write_text(FAILING)
    p = _run([str(prog)], executor)
    want = _run([str(prog)], "oracle")
    assert p.returncode == 1
    err = p.stderr
    assert err.splitlines()[-1] == "ZeroDivisionError: division by zero", err
    assert "<dynamic-code>" not in err, err
    # read like Python's own: one traceback, the task's frames after the call
    # that failed, with their source lines; no pydron module or class named
    assert "The above exception" not in err and "RemoteTraceback" not in err, err
    assert "pydron." not in err and '"""' not in err, err
    fr = _frames(err)
    assert [f for f in fr if not f[0].startswith(PKG_DIR)] == [
        (str(prog), 23, "<module>"), (str(prog), 16, "main"), (str(prog), 11, "divide"),
        (str(prog), 5, "helper")], err
    assert _code_lines(_without_decorator(err)) == _code_lines(want.stderr.splitlines()), err
    internal = [f for f in fr if f[0].startswith(PKG_DIR)]
    assert len(internal) <= 1, err  # the decorator's one line
    assert "_runtime" not in err and "_backend" not in err, err
    assert "before" not in p.stdout  # as sequential: it fails before the print


CHAINED = textwrap.dedent("""\
    from pydron import functional, schedule


    def parse(text):
        return int(text)


    @functional
    def load(text):
        try:
            return parse(text)
        except ValueError as e:
            raise KeyError(text) from e


    @functional
    def scale(x):
        try:
            return 1 / x
        except ZeroDivisionError:
            raise ArithmeticError("no scale")


    @schedule
    def main():
        a = scale(1)
        b = load("x")
        return a, b


    @schedule
    def other():
        return scale(0)


    try:
        main()
    except KeyError:
        import traceback
        traceback.print_exc()
    other()
""")


@pytest.mark.parametrize("executor", ["threads", "local"])
def test_chained_task_exceptions_read_as_sequential(tmp_path, executor):
    """`raise ... from e` and an exception raised while handling another, in
    a task: the chain Python prints, each part with the task's frames."""
    prog = tmp_path / "prog.py"
    prog.write_text(CHAINED)
    p = _run([str(prog)], executor)
    want = _run([str(prog)], "oracle")
    assert p.returncode == want.returncode == 1
    assert _code_lines(_without_decorator(p.stderr)) == _code_lines(want.stderr.splitlines()), \
        p.stderr + "\n---- sequential:\n" + want.stderr
    assert "pydron." not in p.stderr, p.stderr


UNPICKLABLE = textwrap.dedent("""\
    import threading

    from pydron import functional, schedule


    @functional
    def numbers(n):
        return [threading.Lock() for i in range(n)]   # (a generator result travels now)


    @schedule
    def main():
        g = numbers(3)
        return len(g)


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
                    "TypeError: cannot pickle '_thread.lock' object"), p.stderr
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
    fr = [f for f in _frames(p.stderr) if not f[0].startswith(PKG_DIR)]
    # the driver's frames end at the call, then the task's frame
    assert fr == [(str(prog), 15, "<module>"), (str(prog), 11, "main"), (str(prog), 6, "divide")], \
        p.stderr
    assert "a = divide(0)" in p.stderr and "return 1 / x" in p.stderr, p.stderr
    assert "_runtime" not in p.stderr and "_backend" not in p.stderr, p.stderr
