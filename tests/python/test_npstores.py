"""Results stored into a numpy array in a loop (`out[i] = f(i)`): while the
array is a local nothing else can see, every task of the loop is submitted
before the first finishes, and the stores run in program order
(_runtime/npstores.py, _translate/npstores.py). Where the array can be seen
during the loop (a view, an alias, a parameter, a read in the loop), each
store waits for its value, as before. Parallelism is measured with a
submission spy and gates, never with timings; the differential program
numpy_store_loops compares whole programs with plain Python on every
executor."""

import ast
import textwrap
import weakref

import numpy as np
import pytest

import pydron
from gates import SubmitLog, wait_gate
from pydron import functional, schedule
from pydron._runtime import npstores
from pydron._translate import translate_source


@functional
def work(i, gate=None):
    wait_gate(gate)
    return i * 10.0


@functional
def row(i, gate=None):
    wait_gate(gate)
    return np.arange(3.0) + i


@schedule
def filled(n, gate):
    out = np.zeros(n)
    for i in range(n):
        out[i] = work(i, gate)
    return out.tolist()


@schedule
def rows(n, gate):
    m = np.empty((n, 3))
    for i in range(n):
        m[i, :] = row(i, gate)
    return m.tolist()


@schedule
def nested(n, gate):
    g = np.zeros((n, 2))
    for i in range(n):
        for j in range(2):
            g[i, j] = work(i, gate) + j
    return g.tolist()


@schedule
def while_loop(n, gate):
    out = np.zeros(n, dtype=np.int64)
    i = 0
    while i < n:
        out[i] = work(i, gate)
        i += 1
    return out.tolist()


@schedule
def enumerated_two_arrays(n, gate):
    a = np.zeros(n)
    b = np.zeros(n)
    for k, x in enumerate(range(n)):
        a[k] = work(x, gate)
        b[k] = 1.5
    return a.tolist(), b.tolist()


@schedule
def printed(n, gate):
    out = np.zeros(n)
    for i in range(n):
        out[i] = work(i, gate)
        print("stored", i)
    return out.tolist()


@schedule
def accumulated(n, gate):
    acc = np.zeros(3)
    for i in range(n):
        acc += row(i, gate)
    return acc.tolist()


@schedule
def accumulated_and_stored(n, gate):
    acc = np.ones(2)
    for i in range(n):
        acc *= work(i + 1, gate)
        acc[0] = work(i, gate)
    return acc.tolist()


@schedule
def binned(n, gate):
    bins = np.zeros(2)
    tiles = np.zeros((2, 4))
    for i in range(n):
        bins[i % 2] += work(i, gate)
        tiles[i % 2, 1:3] -= work(i, gate)
    return bins.tolist(), tiles.tolist()


@schedule
def rebound(n, gate):
    acc = np.zeros(3)
    for i in range(n):
        acc = acc + row(i, gate)
    return acc.tolist()


@schedule
def accumulated_from_a_task(n, gate):
    acc = row(0, gate)
    for i in range(1, n):
        acc += row(i, gate)
    return acc.tolist()


@schedule
def running_max(n, gate):
    best = np.zeros(3)
    for i in range(n):
        best = np.maximum(best, row(i, gate))
    return best.tolist()


@schedule
def appended(n, gate):
    acc = np.zeros(0)
    for i in range(n):
        acc = np.append(acc, row(i, gate))
    return acc.tolist()


@schedule
def stacked(n, gate):
    acc = np.zeros((0, 3))
    for i in range(n):
        acc = np.vstack([acc, row(i, gate)])
    return acc.tolist()


CASES = [
    (accumulated, 3, [3.0, 6.0, 9.0]),
    (running_max, 3, [2.0, 3.0, 4.0]),
    (appended, 2, [0.0, 1.0, 2.0, 1.0, 2.0, 3.0]),
    (stacked, 2, [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]]),
    (accumulated_from_a_task, 3, [3.0, 6.0, 9.0]),
    (rebound, 3, [3.0, 6.0, 9.0]),
    (binned, 3, ([20.0, 10.0], [[0.0, -20.0, -20.0, 0.0], [0.0, -10.0, -10.0, 0.0]])),
    (accumulated_and_stored, 2, [10.0, 200.0]),
    (filled, 3, [0.0, 10.0, 20.0]),
    (rows, 3, [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]),
    (nested, 2, [[0.0, 1.0], [10.0, 11.0]]),
    (while_loop, 3, [0, 10, 20]),
    (enumerated_two_arrays, 3, ([0.0, 10.0, 20.0], [1.5, 1.5, 1.5])),
    (printed, 3, [0.0, 10.0, 20.0]),
]


@pytest.mark.parametrize("fn, n, expect", CASES, ids=lambda v: getattr(v, "__name__", None))
def test_every_task_of_the_loop_is_submitted_before_the_first_finishes(
        executor, monkeypatch, tmp_path, capsys, fn, n, expect):
    (tmp_path / "open").touch()
    count = SubmitLog(monkeypatch)
    assert fn(n, str(tmp_path / "open")) == expect   # (result categories learned)
    tasks = len(count.futures)
    log = SubmitLog(monkeypatch)
    log.open_gate(row if fn in (rows, accumulated, accumulated_from_a_task, rebound, running_max,
                                appended, stacked) else work, tasks,
                  tmp_path / "go")
    assert fn(n, str(tmp_path / "go")) == expect
    assert log.done_at_submit == [0] * tasks
    if fn is printed:
        assert capsys.readouterr().out == "stored 0\nstored 1\nstored 2\n" * 2


@schedule
def view_before(n, gate):
    out = np.zeros(n)
    view = out[1:]
    totals = []
    for i in range(n):
        out[i] = work(i, gate)
        totals.append(float(view.sum()))
    return totals


@schedule
def alias_before(n, gate):
    out = np.zeros(n)
    same = out
    for i in range(n):
        out[i] = work(i, gate)
    return same.tolist()


@schedule
def into_parameter(out, gate):
    for i in range(len(out)):
        out[i] = work(i, gate)
    return out.tolist()


@schedule
def read_in_loop(n, gate):
    out = np.zeros(n)
    for i in range(n):
        out[i] = work(i, gate) + out[i - 1]
    return out.tolist()


@schedule
def inside_try(n, gate):
    out = np.zeros(n)
    try:
        for i in range(n):
            out[i] = work(i, gate)
    finally:
        pass
    return out.tolist()


@schedule
def aug_alias_before(n, gate):
    acc = np.zeros(2)
    same = acc
    for i in range(n):
        acc += work(i, gate)
    return same.tolist()


@schedule
def aug_into_parameter(acc, gate):
    for i in range(len(acc)):
        acc += work(i, gate)
    return acc.tolist()


@schedule
def aug_read_in_loop(n, gate):
    acc = np.zeros(2)
    seen = []
    for i in range(n):
        acc += work(i, gate)
        seen.append(float(acc[0]))
    return seen


@schedule
def aug_inside_try(n, gate):
    acc = np.zeros(2)
    try:
        for i in range(n):
            acc += work(i, gate)
    finally:
        pass
    return acc.tolist()


@schedule
def bin_read_in_loop(n, gate):
    bins = np.zeros(2)
    seen = []
    for i in range(n):
        bins[i % 2] += work(i, gate)
        seen.append(float(bins[0]))
    return seen


@pytest.mark.parametrize("fn, arg, expect", [
    (bin_read_in_loop, 3, [0.0, 0.0, 20.0]),
    (aug_alias_before, 3, [30.0, 30.0]),
    (aug_into_parameter, None, [30.0, 30.0, 30.0]),
    (aug_read_in_loop, 3, [0.0, 10.0, 30.0]),
    (aug_inside_try, 3, [30.0, 30.0]),
    (view_before, 3, [0.0, 10.0, 30.0]),
    (alias_before, 3, [0.0, 10.0, 20.0]),
    (into_parameter, None, [0.0, 10.0, 20.0]),
    (read_in_loop, 3, [0.0, 10.0, 30.0]),
    (inside_try, 3, [0.0, 10.0, 20.0]),
], ids=lambda v: getattr(v, "__name__", None))
def test_an_array_that_can_be_seen_takes_each_store_at_its_turn(monkeypatch, fn, arg, expect):
    pydron.configure(executor="threads", workers=2)
    deferred = []
    real = npstores._defer

    def spy(op, args, *rest):
        deferred.append(args[1])
        return real(op, args, *rest)
    monkeypatch.setattr(npstores, "_defer", spy)
    for _ in range(2):   # the second time with result categories learned
        assert fn(np.zeros(3) if arg is None else arg, None) == expect
    assert deferred == []


def test_a_second_reference_to_the_array_stops_the_deferral(monkeypatch):
    """The reference count, against the probe's: one more holder (here a
    list made before the loop) and every store is an ordinary one."""
    pydron.configure(executor="threads", workers=2)
    deferred = []
    real = npstores._defer
    monkeypatch.setattr(npstores, "_defer",
                        lambda op, args, *rest: deferred.append(args[1]) or real(op, args, *rest))

    @schedule
    def run(hold):
        out = np.zeros(3)
        keep = [out] if hold else []
        for i in range(3):
            out[i] = work(i)
        return out.tolist(), len(keep)

    assert run(False) == ([0.0, 10.0, 20.0], 0)   # (result categories learned)
    deferred.clear()
    assert run(False) == ([0.0, 10.0, 20.0], 0)
    assert deferred == [0, 1, 2]
    deferred.clear()
    assert run(True) == ([0.0, 10.0, 20.0], 1)
    assert deferred == []

    @schedule
    def proxied():
        out = np.zeros(3)
        seen = weakref.proxy(out)   # reads the array without a reference to it
        sums = []
        for i in range(3):
            out[i] = work(i)
            sums.append(float(seen.sum()))
        return sums

    assert proxied() == [0.0, 10.0, 30.0]
    assert deferred == []
    assert isinstance(npstores._base, int) and npstores._base > 0


@functional
def fails_at(i, bad):
    if i == bad:
        raise ValueError(f"item {i}")
    return float(i)


def filling(n, bad):
    out = np.full(n, -1.0)
    for i in range(n):
        out[i] = fails_at(i, bad)
    return out


scheduled_filling = schedule(filling)


def _frame_array(exc):
    tb = exc.__traceback__
    found = None
    while tb is not None:
        if "out" in tb.tb_frame.f_locals and isinstance(tb.tb_frame.f_locals["out"], np.ndarray):
            found = tb.tb_frame.f_locals["out"]
        tb = tb.tb_next
    return found


@pytest.mark.parametrize("bad", [0, 3, 7])
def test_after_a_failure_the_array_holds_what_plain_python_stored(executor, bad):
    """Seen post mortem (the traceback's frame, as a debugger sees it): the
    stores before the failing item ran, none after it."""
    scheduled_filling(2, 99)   # (result categories learned)
    with pytest.raises(ValueError, match=f"item {bad}") as plain:
        filling(8, bad)
    with pytest.raises(ValueError, match=f"item {bad}") as ours:
        scheduled_filling(8, bad)
    expect = [float(i) for i in range(bad)] + [-1.0] * (8 - bad)
    assert _frame_array(plain.value).tolist() == expect
    assert _frame_array(ours.value).tolist() == expect


def _translated(src):
    fdef = ast.parse(textwrap.dedent(src)).body[0]
    return ast.unparse(ast.fix_missing_locations(translate_source(fdef)))


@pytest.mark.parametrize("src, stores, flushes", [
    ("""
     def f(n):
         out = np.zeros(n)
         for i in range(len(out)):
             out[i] = g(i)
         return out
     """, 1, ["out"]),
    ("""
     def f(n):
         a = np.zeros(n)
         b = np.zeros(n)
         for i in range(n):
             for j in range(n):
                 a[i, j] = g(i)
             b[i] = a[i, 0]
         return a, b
     """, 2, ["a", "b"]),   # a (read in the outer loop) after the inner one; b after the outer
    ("""
     def f(n):
         out = np.zeros(n)
         while len(out) > n:
             out[0] = g(0)
     """, 0, []),   # read in the test
    ("""
     def f(n):
         out = np.zeros(n)
         try:
             for i in range(n):
                 out[i] = g(i)
         except ValueError:
             pass
     """, 0, []),
    ("""
     def f(n):
         out = np.zeros(n)
         for i in range(n):
             out[i] = g(i)
             print(locals())
     """, 0, []),
    ("""
     def f(n):
         out = np.zeros(n)
         h = lambda: out
         for i in range(n):
             out[i] = g(i)
     """, 0, []),
    ("""
     def f(n):
         out = np.zeros(n)
         for i in range(n):
             out[i] = g(i)
         return [out[i] for i in range(n) if out[i] > 0]
     """, 1, ["out"]),   # a list comprehension after the loop runs after the flush
    ("""
     def f(n):
         out = np.zeros(n)
         for i in range(n):
             out[i] = g(i)
             print([v for v in out])
     """, 0, []),   # ... one inside it reads the array there
    ("""
     def f(n):
         out = np.zeros(n)
         later = (v for v in out)
         for i in range(n):
             out[i] = g(i)
             print(next(later))
     """, 0, []),   # a generator expression may run its steps during the loop
    ("""
     def f(n):
         global out
         for i in range(n):
             out[i] = g(i)
     """, 0, []),
    ("""
     def f(n):
         for i in range(n):
             OUT[i] = g(i)
     """, 0, []),   # not a local
    ("""
     def f(n):
         out = np.zeros(n)
         for i in range(n):
             out[i] = g(i)
             if i > 3:
                 return out
     """, 0, []),
    ("""
     def f(n):
         out = np.zeros(n)
         for i in range(n):
             out[i] += g(i)
     """, 0, ["out"]),   # npget/npaugset, no npstore
    ("""
     def f(n):
         acc = np.zeros(n)
         for i in range(n):
             acc += g(i)
             acc[0] = g(i)
     """, 1, ["acc"]),   # npaug and npstore into one array
    ("""
     def f(n):
         acc = np.zeros(n)
         for i in range(n):
             acc += g(i)
             print(acc)
     """, 0, []),   # read in the loop
    ("""
     def f(n):
         acc = np.zeros(n)
         for i in range(n):
             acc = acc + g(i)
     """, 0, ["acc"]),   # npbop
    ("""
     def f(n):
         acc = np.zeros(n)
         for i in range(n):
             acc = g(i) + acc
     """, 0, []),   # the name on the right: not this pattern
    ("""
     def f(n):
         out = np.zeros(n)
         for i in range(n):
             out[i] += g(i)
             out[i, 0] -= out[0]
     """, 0, []),   # the array read in a value
    ("""
     def f(n):
         best = np.zeros(n)
         rows = np.zeros((0, n))
         for i in range(n):
             best = np.maximum(best, g(i))
             rows = np.vstack([rows, g(i)])
             rows = np.concatenate((rows, g(i)), axis=0)
     """, 0, ["best", "rows"]),   # npcall, three forms
    ("""
     def f(n):
         best = np.zeros(n)
         for i in range(n):
             best = np.maximum(g(i), best)
     """, 0, []),   # the name not first
    ("""
     def f(n):
         best = np.zeros(n)
         for i in range(n):
             best = np.maximum(best, g(i), out=best)
     """, 0, []),   # out=
    ("""
     def f(n):
         best = np.zeros(n)
         for i in range(n):
             best = np.maximum(best, best * g(i))
     """, 0, []),   # the name read in an argument
    ("""
     def f(n):
         rows = np.zeros((0, n))
         for i in range(n):
             rows = np.vstack([rows, g(i)], *extra)
     """, 0, []),   # a starred argument
])
def test_which_loops_store_through_npstore(src, stores, flushes):
    text = _translated(src)
    assert text.count("npstore(") == stores
    # in-place operators: into a name npaug, into an item npget + npaugset
    assert text.count("npaug(") == sum(f"{n} += " in src for n in flushes)
    assert text.count("npbop(") == sum(f"{n} = {n} + " in src for n in flushes)
    assert text.count("npcall(") == sum(src.count(f"{n} = np.") - 1 for n in flushes)   # (not the first binding)
    assert text.count("npget(") == text.count("npaugset(") == sum(
        f"{n}[i] += " in src for n in flushes)
    got = [line.strip()[len("__pydron__.npflush("):-1] for line in text.splitlines()
           if "npflush(" in line]
    assert got == flushes
