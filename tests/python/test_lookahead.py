"""Look-ahead past driver statements that look at results: print, f-strings,
reading methods, builtins, `+=` and `-x` over values not computed yet become
deferred operations, so the driver goes on adding later tasks.

Tasks that must still be running when later ones are added wait for a gate
file the test creates once the last of them was added (a wait of at most
10 s), not for a fixed time: on a loaded machine a driver that does not wait
can still take longer than any fixed sleep to add the rest."""

import math
import time

import numpy as np
import pytest

import pydron
from gates import SubmitLog, wait_gate
from pydron import _backend, _runtime, functional, schedule


@functional
def frame(i, gate):
    wait_gate(gate)
    return np.full(4, float(i))


@schedule
def report_loop(n, gate):
    total = 0
    for i in range(n):
        f = frame(i, gate)
        total += f.sum()
        total = total + f[0] * f.shape[0] - f.size
        neg = -f
        total += -neg[0] - f[0]  # 0, with unary operators deferred too
        print("frame", i, f.mean(), f"{f.max():.1f}", round(float(f.min()), 1))
    print("total", total)
    return total


def test_loop_that_prints_results_adds_every_task_first(executor, monkeypatch, capsys,
                                                        tmp_path):
    report_loop(2, None)  # the driver learns what frame() returns (feedback)
    capsys.readouterr()
    log = SubmitLog(monkeypatch)
    n = 6
    log.open_gate(frame, n, tmp_path / "go")
    assert report_loop(n, str(tmp_path / "go")) == sum(8.0 * i - 4 for i in range(n))
    assert log.done_at_submit == [0] * n  # no task waited for an earlier one
    out = capsys.readouterr().out.splitlines()
    assert out == [f"frame {i} {float(i)} {i:.1f} {float(i)}" for i in range(n)] + [f"total {sum(8.0 * i - 4 for i in range(n))}"]


@functional
def level(i, gate):
    wait_gate(gate)
    return 2.0 * i + 1


@schedule
def math_loop(n, gate):
    out = []
    for i in range(n):
        v = level(i, gate)
        out.append((round(math.sqrt(v), 9), round(math.log10(v), 9), math.floor(v), divmod(v, 2),
                    pow(v, 2), complex(v, 1), round(math.hypot(v, 1), 9)))
        print("level", i, round(math.exp(-v), 9))
    return out


def test_math_functions_of_results_are_deferred(executor, monkeypatch, capsys, tmp_path):
    """math.sqrt(flux(i)) and the like in a loop: deferred like numpy's
    functions, so the loop adds every task first; output in order."""
    math_loop(3, None)  # the driver learns what level() returns
    capsys.readouterr()
    log = SubmitLog(monkeypatch)
    log.open_gate(level, 5, tmp_path / "go")
    out = math_loop(5, str(tmp_path / "go"))
    assert [row[2] for row in out] == [1, 3, 5, 7, 9]
    assert log.done_at_submit == [0] * 5
    assert capsys.readouterr().out.splitlines() == [
        f"level {i} {round(math.exp(-(2.0 * i + 1)), 9)}" for i in range(5)]


@functional
def count(i, gate):
    wait_gate(gate)
    return 37 * i + 5


@schedule
def modulo_loop(n, gate):
    out = []
    for i in range(n):
        v = level(i, gate)
        k = count(i, gate)
        out.append(("%.2f" % v, "%5.1f%%" % v, "%d:%s" % (i, "x"), k % 7, v % 3, k & 0xF,
                    k | 1, k ^ 3, k << 2, k >> 1))
        print("row %d %.3f" % (i, i / 3))
    return out


def test_modulo_and_bitwise_operators_of_results_are_deferred(executor, monkeypatch, capsys,
                                                               tmp_path):
    """`"%.2f" % flux(i)`, `k % 7`, `k & 0xF` and the other bitwise operators
    on results in a loop: deferred as `+` is, so the loop adds every task
    first; the values and output as in plain Python."""
    modulo_loop(3, None)  # the driver learns what level() and count() return
    capsys.readouterr()
    log = SubmitLog(monkeypatch)
    log.open_gate(count, 5, tmp_path / "go")
    out = modulo_loop(5, str(tmp_path / "go"))
    want = []
    for i in range(5):
        v, k = 2.0 * i + 1, 37 * i + 5
        want.append(("%.2f" % v, "%5.1f%%" % v, "%d:%s" % (i, "x"), k % 7, v % 3, k & 0xF,
                     k | 1, k ^ 3, k << 2, k >> 1))
    assert out == want
    assert log.done_at_submit == [0] * 10
    assert capsys.readouterr().out.splitlines() == ["row %d %.3f" % (i, i / 3) for i in range(5)]


def test_first_call_waits_until_the_result_category_is_known(monkeypatch, capsys, tmp_path):
    pydron.configure(executor="threads", workers=2)

    @functional
    def fresh(i, gate):
        if i:  # the first one finishes: the driver waits for it
            wait_gate(gate)
        return float(i)

    @schedule
    def loop(n, gate):
        for i in range(n):
            x = fresh(i, gate)
            print(x.is_integer(), x.hex())

    log = SubmitLog(monkeypatch)
    log.open_gate(fresh, 4, tmp_path / "go")
    loop(4, str(tmp_path / "go"))
    # The first result's category is unknown: the driver waits for it once,
    # then runs ahead of the others.
    assert log.done_at_submit[:2] == [0, 1]
    assert log.done_at_submit[2:] == [1, 1]
    assert capsys.readouterr().out == "".join(f"True {float(i).hex()}\n" for i in range(4))


@functional
def cond(x):
    return x < 12


@functional
def step(x):
    return x + 3


@functional
def slow_sq(x, gate):
    wait_gate(gate)
    return x * x


@schedule
def seed_while(x, gate):
    s = 0
    while cond(x):
        x = step(x)
        s += slow_sq(x, gate)
    return x, s


def test_seed_while_loop_does_not_wait_for_h(monkeypatch, tmp_path):
    # enough workers that a waiting slow_sq never holds up cond/step
    pydron.configure(executor="threads", workers=8)
    seed_while(10, None)
    log = SubmitLog(monkeypatch)
    log.open_gate(slow_sq, 4, tmp_path / "go")
    x, s = seed_while(0, str(tmp_path / "go"))
    assert (x, s) == (12, sum(v * v for v in (3, 6, 9, 12)))
    sq = [i for i, f in enumerate(log.futures) if f._fn is slow_sq.__pydron_functional__]
    assert len(sq) == 4
    # The loop waits for cond() each round, never for slow_sq(): when the
    # last slow_sq was added, the first one (waiting for that) had not finished.
    assert log.done_flags[sq[-1]][sq[0]] is False


@functional
def text(i):
    return "x" if i == 4 else str(i)


@schedule
def parse_all(n, out):
    s = 0
    for i in range(n):
        t = text(i)
        s += int(t)
        print("parsed", i, t.upper())
        out.append(i)
    return s


def test_failing_deferred_operation_raises_in_order_and_undoes(executor, capsys):
    parse_all(3, [])
    capsys.readouterr()
    out = []
    with pytest.raises(ValueError, match="invalid literal for int"):
        parse_all(8, out)
    # sequential: items 0..3 were appended and printed, the fifth int() raised
    assert out == [0, 1, 2, 3]
    assert capsys.readouterr().out == "".join(f"parsed {i} {i}\n" for i in range(4))


class Counter:
    calls = []

    def mean(self):
        Counter.calls.append(len(Counter.calls))
        return len(Counter.calls)


@functional
def mk_counter(i):
    time.sleep(0.05)
    return Counter()


@schedule
def count_loop(n):
    res = []
    for i in range(n):
        c = mk_counter(i)
        print("mean", c.mean(), len(Counter.calls))
        res.append(len(Counter.calls))
    return res


def test_deferred_operations_are_not_used_for_unknown_result_types(executor, capsys):
    # a user-defined class: its method runs at its place in the program
    del Counter.calls[:]
    assert count_loop(3) == [1, 2, 3]
    assert capsys.readouterr().out == "mean 1 1\nmean 2 2\nmean 3 3\n"
    assert _backend.category(Counter()) is None


def test_driver_changes_after_a_deferred_read_are_not_seen_by_it(executor, capsys):
    @functional
    def arr(n):
        time.sleep(0.1)
        return np.arange(n, dtype=float)

    @schedule
    def f():
        out = []
        for _ in range(3):
            a = arr(4)
            out.append(a.sum())
            print(a.sum())
            a[0] = 10.0
            print(a.sum())
        return out

    assert f() == [6.0, 6.0, 6.0]
    assert capsys.readouterr().out == "6.0\n16.0\n" * 3


def test_return_annotation_gives_the_category_before_any_result(monkeypatch, capsys,
                                                                tmp_path):
    pydron.configure(executor="threads", workers=2)

    @functional
    def measured(i, gate) -> float:
        wait_gate(gate)
        return i * 0.5

    @functional
    def image(i, gate) -> np.ndarray:
        wait_gate(gate)
        return np.full(3, i)

    @schedule
    def loop(n, gate):
        for i in range(n):
            x = measured(i, gate)
            a = image(i, gate)
            print(round(x, 1), a.sum(), f"{x:.2f}")

    log = SubmitLog(monkeypatch)
    log.open_gate(image, 3, tmp_path / "go")  # image(2) is the last of the six
    loop(3, str(tmp_path / "go"))
    # nothing waited, not even for the first results
    assert log.done_at_submit == [0] * 6
    assert capsys.readouterr().out == "".join(f"{round(i * 0.5, 1)} {3 * i} {i * 0.5:.2f}\n"
                                              for i in range(3))


@functional
def maybe_fail(i, t):
    if isinstance(t, str):
        wait_gate(t)
    else:
        time.sleep(t)
    if i == 4:
        raise ValueError(f"bad {i}")
    return i


@schedule
def try_loop(n, t):
    out = []
    try:
        for i in range(n):
            x = maybe_fail(i, t)
            out.append(x)
    except ValueError as e:
        return "failed", i, x, out, str(e)
    return out


def test_try_body_runs_its_loop_in_parallel(executor, monkeypatch, tmp_path):
    log = SubmitLog(monkeypatch)
    log.open_gate(maybe_fail, 4, tmp_path / "go")
    assert try_loop(4, str(tmp_path / "go")) == [0, 1, 2, 3]
    assert log.done_at_submit == [0] * 4  # no task waited inside the try body


def test_try_body_failure_rolls_back_locals_to_its_point(executor):
    # sequential: the loop stops at i == 4; x keeps the value of i == 3 and
    # out holds 0..3 (appends made after the failing call are undone)
    assert try_loop(8, 0.05) == ("failed", 4, 3, [0, 1, 2, 3], "bad 4")


@schedule
def with_loop(n, t):
    out = []
    with open(__file__) as fh:  # any context manager
        first = fh.readline()
        for i in range(n):
            out.append(maybe_fail(i, t))
    return out, first.startswith('"""')


def test_with_body_runs_its_loop_in_parallel(executor, monkeypatch, tmp_path):
    log = SubmitLog(monkeypatch)
    log.open_gate(maybe_fail, 4, tmp_path / "go")
    assert with_loop(4, str(tmp_path / "go")) == ([0, 1, 2, 3], True)
    assert log.done_at_submit == [0] * 4


@functional
def arange(n) -> np.ndarray:
    return np.arange(n, dtype=float)


def test_reading_method_of_a_finished_result_waits_for_nothing(tmp_path):
    # c.mean() when c is already done: a reading method of a numpy result has no
    # effects, so no barrier, and the driver does not take the object (later
    # tasks given c still take the task's own value). The sleeper runs until
    # the gate opens, after the checks: a method that did wait would find it
    # finished only after the gate's timeout.
    import threading

    gate = tmp_path / "go"
    pydron.configure(executor="threads", workers=2)
    _runtime.session()
    _runtime.state.S.driver = threading.get_ident()
    try:
        sleeper = _runtime.calls._submit(maybe_fail.__pydron_functional__, (0, str(gate)), {})
        a = _runtime.calls._submit(arange.__pydron_functional__, (4,), {})
        a._v.wait()
        assert _runtime.mcall(a, "sum") == 6.0
        assert _runtime.mcall(a, "max") == 3.0
        assert not sleeper.done()
        assert a._x is False
        gate.touch()  # (reshape below may wait for the tasks before a)
        # a method that may hand out the object itself resolves it as before
        assert _runtime.mcall(a, "reshape", 2, 2).shape == (2, 2)
        assert a._x is True
    finally:
        gate.touch()
        _runtime.barrier()
        _runtime.state.S.driver = None
