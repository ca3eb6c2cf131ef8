"""Loops over iterators of the program (a generator, map(...), a progress-bar
wrapper, enumerate/zip of these) submit every task of the loop before the
first one finishes where stepping the iterator early is provably the same as
sequential; where it is not, the "pydron" logger says why at debug level.
Measured with a submission spy, never with timings: tasks that must still be
running wait for a gate file the spy creates once the last task was added."""

import logging
import time

import pytest

import pydron
from gates import SubmitLog, wait_gate
from pydron import _runtime, functional, schedule


@functional
def work(i, gate=None):
    if gate is None:  # loops that must wait: a step that did not would find it running
        time.sleep(0.25)
    else:
        wait_gate(gate)
    return i * 10


def frames(n):
    for i in range(n):
        yield i


def batches(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Progress:
    """A tqdm-like wrapper: counts what was taken from the inner iterable."""

    def __init__(self, inner):
        self.inner = inner
        self.n = 0

    def __iter__(self):
        for x in self.inner:
            yield x
            self.n += 1


class Dataset:
    """Iterates over its items, reading its own attributes."""

    def __init__(self, items):
        self.items = items
        self.scale = 1

    def __iter__(self):
        for x in self.items:
            yield x * self.scale


@schedule
def over_dataset(n, gate):
    ds = Dataset(list(range(n)))  # (made before any task)
    return [work(i, gate) for i in ds] + [work(i, gate) for i in ds]


@schedule
def over_generator(n, gate):
    return [work(i, gate) for i in frames(n)]


@schedule
def over_generator_loop(n, gate):
    out = []
    for i in frames(n):
        out.append(work(i, gate))
    return out


@schedule
def over_batches(items, gate):
    out = []
    for b in batches(items, 2):
        out.append(work(b[0], gate))
    return out


@schedule
def over_map(n, gate):
    out = []
    for y in map(work, range(n), [gate] * n):
        out.append(y)
    return out


@schedule
def over_progress(n, gate):
    bar = Progress(range(n))
    out = []
    for i in bar:
        out.append(work(i, gate))
    return out, bar.n


@schedule
def over_enumerate_map(n, gate):
    out = []
    for k, y in enumerate(map(work, range(n), [gate] * n), 1):
        out.append((k, y))
    return out


@schedule
def over_zip_generator_list(n, gate):
    out = []
    for i, name in zip(frames(n), [str(j) for j in range(n)]):
        out.append((name, work(i, gate)))
    return out


@schedule
def over_itertools(n, gate):
    import itertools
    out = []
    for i in itertools.islice(frames(100), n):
        out.append(work(i, gate))
    for i in itertools.chain(frames(1), [5]):
        out.append(work(i, gate))
    for a, b in itertools.zip_longest(frames(2), [7], fillvalue=0):
        out.append(work(a + b, gate))
    return out


def is_even(x):
    return x % 2 == 0


class Countdown:
    """An iterator class whose __next__ only updates its own attributes."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.n == 0:
            raise StopIteration
        self.n -= 1
        return self.n


@schedule
def over_filter(n, gate):
    out = []
    for i in filter(is_even, frames(2 * n)):
        out.append(work(i, gate))
    for i in filter(lambda x: x % 2, range(2 * n)):
        out.append(work(i, gate))
    for i in filter(None, frames(n)):
        out.append(work(i, gate))
    return out


@schedule
def over_more_itertools(n, gate):
    import itertools
    import operator
    out = []
    for i in itertools.count(1):
        if i > n:
            break
        out.append(work(i, gate))
    for i in itertools.repeat(2, n):
        out.append(work(i, gate))
    for a, b in itertools.product(frames(n), range(2)):
        out.append(work(a + b, gate))
    for c in itertools.combinations(frames(n), 2):
        out.append(work(c[0] + c[1], gate))
    for s in itertools.accumulate(frames(n)):
        out.append(work(s, gate))
    for s in itertools.accumulate(frames(n), operator.mul, initial=1):
        out.append(work(s, gate))
    for i in itertools.takewhile(lambda x: x < n, itertools.count()):
        out.append(work(i, gate))
    for i in itertools.dropwhile(is_even, frames(n)):
        out.append(work(i, gate))
    for i in itertools.compress(frames(n), [1, 0, 1]):
        out.append(work(i, gate))
    for k, g in itertools.groupby(frames(2 * n), key=lambda x: x // 2):
        out.append(work(k + sum(g), gate))
    for y in itertools.starmap(work, [(i, gate) for i in range(n)]):
        out.append(y)
    for i in itertools.chain.from_iterable([frames(n), [9]]):
        out.append(work(i, gate))
    a, b = itertools.tee(frames(n))
    for x, y in zip(a, b):
        out.append(work(x + y, gate))
    for k, i in enumerate(filter(is_even, frames(2 * n))):
        out.append(work(k + i, gate))
    for y in map(lambda x: x + 1, frames(n)):
        out.append(work(y, gate))
    return out


@schedule
def over_iterator_class(n, gate):
    c = Countdown(n)
    out = []
    for i in c:
        out.append(work(i, gate))
    return out, c.n


@schedule
def consumed_by_builtins(n, gate):
    return list(map(work, range(n), [gate] * n)), sum(map(work, range(n), [gate] * n))


@pytest.mark.parametrize("fn, n, expect", [
    (over_generator, 4, [0, 10, 20, 30]),
    (over_dataset, 2, [0, 10, 0, 10]),
    (over_generator_loop, 4, [0, 10, 20, 30]),
    (over_batches, [1, 2, 3, 4, 5, 6, 7], [10, 30, 50, 70]),
    (over_map, 4, [0, 10, 20, 30]),
    (over_progress, 4, ([0, 10, 20, 30], 4)),
    (over_enumerate_map, 3, [(1, 0), (2, 10), (3, 20)]),
    (over_zip_generator_list, 3, [("0", 0), ("1", 10), ("2", 20)]),
    (consumed_by_builtins, 3, ([0, 10, 20], 30)),
    (over_itertools, 2, [0, 10, 0, 50, 70, 10]),
    (over_filter, 2, [0, 20, 10, 30, 10]),
    (over_more_itertools, 2, [10, 20, 20, 20, 0, 10, 10, 20, 10, 0, 10, 10, 0, 0, 0, 10, 10, 0,
                              10, 60, 0, 10, 0, 10, 90, 0, 20, 0, 30, 10, 20]),
    (over_iterator_class, 3, ([20, 10, 0], 0)),
], ids=lambda v: getattr(v, "__name__", None))
def test_every_task_is_submitted_before_the_first_finishes(executor, monkeypatch, tmp_path,
                                                           fn, n, expect):
    # a first run, through a gate already open, counts the tasks fn adds
    (tmp_path / "open").touch()
    count = SubmitLog(monkeypatch)
    assert fn(n, str(tmp_path / "open")) == expect
    tasks = sum(f._fn is work.__pydron_functional__ for f in count.futures)
    log = SubmitLog(monkeypatch)
    log.open_gate(work, tasks, tmp_path / "go")  # once the last one was added
    assert fn(n, str(tmp_path / "go")) == expect
    assert tasks and len(log.futures) == tasks
    assert log.done_at_submit == [0] * tasks


def noisy(n):
    for i in range(n):
        print("step", i)
        yield i


class TalkativeCountdown(Countdown):
    def __next__(self):
        print("step", self.n)
        if self.n == 0:
            raise StopIteration
        self.n -= 1
        return self.n


def noisy_even(x):
    print("checking", x)
    return True


def reads_results(n):
    for i in range(n):
        yield len(RESULTS)


RESULTS = []


@schedule
def over(it):
    out = RESULTS if type(it).__name__ == "generator" and it.gi_code is reads_results.__code__ else []
    for i in it:
        out.append(work(i))  # RESULTS holds placeholders: reads_results must not run ahead
    return list(out)


@pytest.mark.parametrize("make, why", [
    (lambda: noisy(3), "calls print"),
    (lambda: TalkativeCountdown(3), "calls print"),
    (lambda: reads_results(3), "reads the global 'RESULTS'"),
    (lambda: iter(["end", 2, 1, 0].pop, "end"),
     "iterator of type callable_iterator runs code pydron does not see"),
])
def test_a_loop_that_must_wait_says_why(monkeypatch, caplog, capsys, make, why):
    pydron.configure(executor="threads", workers=2)
    log = SubmitLog(monkeypatch)
    with caplog.at_level(logging.DEBUG, logger="pydron"):
        RESULTS.clear()
        out = over(make())
    assert out == [0, 10, 20] or out == [20, 10, 0]  # (Countdown counts down)
    assert log.done_at_submit[1:] == [1, 2]  # each step waited for the task before it
    msgs = [r.getMessage() for r in caplog.records if "waits for earlier tasks" in r.getMessage()]
    assert msgs, caplog.text
    import re
    assert re.search(why, msgs[-1]), msgs


@schedule
def predicates_that_must_wait(n):
    import itertools
    out = []
    for i in filter(noisy_even, range(n)):  # prints
        out.append(work(i))
    done = [work(i) for i in range(n)]
    for v in filter(lambda v: v > 0, done):  # looks at results
        out.append(work(v // 10))
    for v in itertools.takewhile(lambda v: v < 100, done):
        out.append(work(v // 10))
    return out


def test_predicates_that_must_wait_say_why(monkeypatch, caplog, capsys):
    pydron.configure(executor="threads", workers=2)
    log = SubmitLog(monkeypatch)
    with caplog.at_level(logging.DEBUG, logger="pydron"):
        out = predicates_that_must_wait(3)
    assert out == [0, 10, 20, 10, 20, 0, 10, 20]
    assert capsys.readouterr().out == "checking 0\nchecking 1\nchecking 2\n"
    # the printing predicate: each step waited for the task before it
    assert log.done_at_submit[:3] == [0, 1, 2]
    msgs = [r.getMessage() for r in caplog.records if "waits for earlier tasks" in r.getMessage()]
    assert any("noisy_even: it calls print" in m for m in msgs), msgs
    assert any("is given a Future" in m for m in msgs), msgs


def test_the_wrapper_counter_is_undone_when_an_earlier_task_fails():
    pydron.configure(executor="threads", workers=2)

    @functional
    def maybe_fail(i):
        time.sleep(0.1 if i == 1 else 0.3)
        if i == 1:
            raise ValueError(i)
        return i

    bar = Progress(range(5))

    @schedule
    def run():
        out = []
        for i in bar:
            out.append(maybe_fail(i))
        return out

    with pytest.raises(ValueError):
        run()
    # sequentially the loop stopped at i == 1, before the counter passed 1
    assert bar.n == 1


def test_real_tqdm_runs_ahead_and_ends_as_sequential(monkeypatch, tmp_path):
    tqdm = pytest.importorskip("tqdm").tqdm  # optional test dependency
    import io
    pydron.configure(executor="threads", workers=2)
    log = SubmitLog(monkeypatch)

    @schedule
    def run(bar, gate):
        out = []
        for i in bar:
            out.append(work(i, gate))
        return out

    bar = tqdm(range(4), file=io.StringIO())
    log.open_gate(work, 4, tmp_path / "go")
    assert run(bar, str(tmp_path / "go")) == [0, 10, 20, 30]
    assert log.done_at_submit == [0] * 4
    assert bar.n == 4

    @functional
    def maybe_fail(i):
        time.sleep(0.1 if i == 1 else 0.3)
        if i == 1:
            raise ValueError(i)
        return i

    @schedule
    def run_failing(bar):
        out = []
        for i in bar:
            out.append(maybe_fail(i))
        return out

    def sequential():
        bar = tqdm(range(5), file=io.StringIO())
        try:
            for i in bar:
                maybe_fail.__wrapped__(i)
        except ValueError:
            pass
        return bar.n

    bar = tqdm(range(5), file=io.StringIO())
    with pytest.raises(ValueError):
        run_failing(bar)
    import gc
    gc.collect()
    assert bar.n == sequential() == 1


@schedule
def after_tasks_enumerate_zip(n, gate):
    first = [work(i, gate) for i in range(2)]  # pending when the loops start
    out = []
    for k, i in enumerate(frames(n)):
        out.append(work(k + i, gate))
    for i, j in zip(frames(n), range(n)):
        out.append(work(i + j, gate))
    for y in map(work, frames(n), [gate] * n):
        out.append(y)
    return first + out


def test_loops_starting_while_tasks_are_pending_do_not_wait(executor, monkeypatch, tmp_path):
    log = SubmitLog(monkeypatch)
    log.open_gate(work, 8, tmp_path / "go")
    assert after_tasks_enumerate_zip(2, str(tmp_path / "go")) == [0, 10, 0, 20, 0, 20, 0, 10]
    assert log.done_at_submit == [0] * 8
