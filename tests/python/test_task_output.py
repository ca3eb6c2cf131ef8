"""What a @functional prints comes where the sequential program prints it:
kept with the task's log records where it runs (_settings._TaskStream) and
written by the driver in program order. The differential program
prints_in_tasks compares whole programs with plain Python on every
executor; these tests pin the parts."""

import io
import sys

import pytest

import pydron
from pydron import _settings, functional, schedule


@functional
def shout(i):
    print("task", i)
    sys.stdout.write("write %d\n" % i)
    print("err", i, file=sys.stderr)
    return i


@schedule
def interleaved(n):
    out = []
    for i in range(n):
        out.append(shout(i))
        print("driver", i)
    return out


@pytest.mark.parametrize("executor", ["inline", "threads", "local"], indirect=True)
def test_task_output_comes_in_program_order(executor, capsys):
    assert interleaved(4) == [0, 1, 2, 3]
    out, err = capsys.readouterr()
    assert out.splitlines() == [line for i in range(4)
                                for line in (f"task {i}", f"write {i}", f"driver {i}")]
    assert err.splitlines() == [f"err {i}" for i in range(4)]


@functional
def step(i, bad):
    print("step", i)
    if i == bad:
        raise ValueError("step %d" % i)
    return i


@schedule
def summed(n, bad):
    try:
        return sum(step(i, bad) for i in range(n))
    except ValueError as e:
        print("caught", e)
        return None


@pytest.mark.parametrize("executor", ["inline", "threads", "local"], indirect=True)
def test_a_task_sequential_code_never_reaches_prints_nothing(executor, capsys):
    assert summed(8, 2) is None
    assert capsys.readouterr().out.splitlines() == ["step 0", "step 1", "step 2", "caught step 2"]


@functional
def frame(i, lines=1):
    for k in range(lines):
        print("frame", i, k)
    return bytes(100_000) + bytes([i])


@functional
def last_byte(b):
    return b[-1]


@schedule
def frames(lines):
    kept = [frame(i, lines) for i in range(3)]  # large: they stay on the workers
    print("made")
    seen = [last_byte(f) for f in kept]          # only tasks read them
    print("read", seen)
    late = frame(9, lines)
    print("before")
    print("late", late[-1])                      # the program reads this one
    return seen


@pytest.mark.parametrize("executor", ["inline", "threads", "local"], indirect=True)
def test_output_of_large_results_never_read_comes_once_in_order(executor, capsys):
    # on worker processes it comes with the completion's note, not the bytes
    assert frames(2) == [0, 1, 2]
    want = [f"frame {i} {k}" for i in range(3) for k in range(2)] + ["made", "read [0, 1, 2]"]
    want += ["frame 9 0", "frame 9 1", "before", "late 9"]
    assert capsys.readouterr().out.splitlines() == want


@pytest.mark.parametrize("executor", ["local"], indirect=True)
def test_much_output_of_a_large_result_comes_in_order(executor, capsys):
    lines = 40_000  # ~ 0.5 MB of records in the note
    @schedule
    def one():
        f = frame(5, lines)
        print("before")
        return last_byte(f)

    assert one() == 5
    out = capsys.readouterr().out.splitlines()
    assert out == [f"frame 5 {k}" for k in range(lines)] + ["before"]


def test_output_note_outside_a_task_is_an_error():
    with pytest.raises(RuntimeError, match="no task"):
        pydron._core.output_note(0, b"x")


def test_the_stream_wrapper_hands_on_what_it_does_not_keep():
    real = io.StringIO()
    s = _settings._TaskStream(real, "o")
    assert s.write("plain\n") == 6 and real.getvalue() == "plain\n"  # not in a task
    s.writelines(["a", "b\n"])
    assert real.getvalue() == "plain\nab\n"
    assert s.getvalue() == real.getvalue() and s.closed is False  # attributes of the stream
    s.newline_attr = 1  # attributes set go to the stream too
    assert real.newline_attr == 1
    _settings.capture_start()  # as a task does
    try:
        assert s.write("in ") == 3
        s.write("task\n")
        s.flush()
        with pytest.raises(TypeError, match="must be str, not bytes"):
            s.write(b"bytes")
    finally:
        recs = _settings.capture_end()
    assert recs == [("o", "in task\n")]  # one entry per run of writes
    assert real.getvalue() == "plain\nab\n"  # nothing written while the task ran
    old = sys.stdout
    sys.stdout = s
    try:
        _settings.forward(recs)  # the driver writes it to its stream of now
    finally:
        sys.stdout = old
    assert real.getvalue() == "plain\nab\nin task\n"


def test_wrapping_keeps_one_wrapper(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    _settings.wrap_std()
    first = sys.stdout
    _settings.wrap_std()
    assert sys.stdout is first and type(first) is _settings._TaskStream
    assert type(sys.stderr) is _settings._TaskStream
