"""Warnings for impure uses of @functional functions (pydron._purity): one
random generator handed to several tasks, and (check mode) a task changing
its argument. Each on every executor; the results are those pydron gives
without the warning."""

import random
import warnings

import numpy as np
import pytest

import pydron
from pydron import _purity, functional, schedule


@pytest.fixture(params=["inline", "threads", "local"])
def executor(request, monkeypatch):
    if request.param == "local":
        from conftest import require_local
        require_local()
    monkeypatch.delenv("PYDRON_CHECK", raising=False)
    _purity._warned.clear()
    _purity._given.clear()
    pydron.configure(executor=request.param, workers=2)
    yield request.param
    pydron.configure()


@functional
def draw(rng, n=3):
    return [float(x) for x in rng.random(n)] if hasattr(rng, "bit_generator") or \
        hasattr(rng, "random_sample") and not isinstance(rng, random.Random) else \
        [rng.random() for _ in range(n)]


@schedule
def draws(rng, k):
    return [draw(rng) for _ in range(k)]


@schedule
def draws_kw(rng, k):
    return [draw(rng=rng, n=2) for _ in range(k)]


def _purity_warnings(record):
    return [w for w in record if issubclass(w.category, pydron.PurityWarning)]


@pytest.mark.parametrize("make", [np.random.default_rng, np.random.RandomState, random.Random],
                         ids=["Generator", "RandomState", "Random"])
def test_one_generator_for_several_tasks_warns_once(executor, make):
    with pytest.warns(pydron.PurityWarning) as record:
        got = draws(make(7), 5)
    ws = _purity_warnings(record)
    assert len(ws) == 1, [str(w.message) for w in ws]
    msg = str(ws[0].message)
    assert "draw()" in msg and "'rng'" in msg and "same state" in msg
    assert ws[0].filename == __file__  # blames the program, not pydron
    # what pydron computes is unchanged: every task drew from the same copy
    assert all(g == got[0] for g in got)
    assert got[0] == draw.__wrapped__(make(7))
    # again with a fresh generator (another object): warned once per
    # (function, argument) already, so no second warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", pydron.PurityWarning)
        draws(make(8), 3)


def test_generator_as_keyword_argument_is_named(executor):
    with pytest.warns(pydron.PurityWarning, match=r"draw\(\) as 'rng'"):
        got = draws_kw(np.random.default_rng(1), 3)
    assert got[0] == got[1] == got[2]


@schedule
def spawned(rng, k):
    return [draw(r) for r in rng.spawn(k)]


@schedule
def driver_draws_between(rng, k):
    out = []
    for _ in range(k):
        rng.random()  # the driver advances it: the next task gets another state
        out.append(draw(rng))
    return out


def test_own_generator_per_task_or_advanced_state_do_not_warn(executor):
    with warnings.catch_warnings():
        warnings.simplefilter("error", pydron.PurityWarning)
        a = spawned(np.random.default_rng(3), 4)
        b = driver_draws_between(np.random.default_rng(3), 4)
    assert len({tuple(x) for x in a}) == 4
    assert len({tuple(x) for x in b}) == 4


RNG = np.random.default_rng(11)


@functional
def noise():
    return float(RNG.random())


@schedule
def noises(k):
    return [noise() for _ in range(k)]


def test_global_generator_read_by_tasks_warns(executor):
    with pytest.warns(pydron.PurityWarning, match=r"noise\(\) reads the random generator 'RNG'"):
        got = noises(4)
    assert len(got) == 4 and all(0 <= x < 1 for x in got)


@functional
def append_item(xs, item):
    xs.append(item)
    return len(xs)


@functional
def scale(arr, *, factor):
    arr *= factor
    return float(arr.sum())


@functional
def pure_sum(xs):
    return sum(xs)


@schedule
def mutating_calls():
    base = [1, 2]
    n = [append_item(base, i) for i in range(3)]
    arr = np.ones(4)
    s = scale(arr, factor=2.0)
    return n, s, base, float(arr.sum()), pure_sum(base)


def test_check_mode_warns_for_argument_mutation(executor, monkeypatch):
    monkeypatch.setenv("PYDRON_CHECK", "1")
    pydron.configure(executor=executor, workers=2)  # a session made in check mode
    with pytest.warns(pydron.PurityWarning) as record:
        got = mutating_calls()
    msgs = sorted(str(w.message) for w in _purity_warnings(record))
    assert len(msgs) == 2, msgs
    assert "append_item() changed its argument 'xs'" in msgs[0]
    assert "scale() changed its argument 'arr'" in msgs[1]
    # results unchanged: the caller never sees the task's change
    assert got == ([3, 3, 3], 8.0, [1, 2], 4.0, 3)


def test_without_check_mode_mutation_is_silent(executor):
    with warnings.catch_warnings():
        warnings.simplefilter("error", pydron.PurityWarning)
        got = mutating_calls()
    assert got == ([3, 3, 3], 8.0, [1, 2], 4.0, 3)


@functional
def draw_from(params):
    return [float(x) for x in params["rng"].random(2)]


class Params:
    def __init__(self, rng):
        self.rng = rng


@functional
def draw_attr(p, scale=1):
    return float(p.rng.random()) * scale


@schedule
def nested_draws(rng, k):
    return [draw_from({"rng": rng}) for _ in range(k)], [draw_attr(Params(rng)) for _ in range(k)]


def test_generator_inside_containers_and_objects_warns(executor):
    with pytest.warns(pydron.PurityWarning) as record:
        a, b = nested_draws(np.random.default_rng(5), 3)
    msgs = sorted(str(w.message) for w in _purity_warnings(record))
    assert len(msgs) == 2, msgs
    assert "draw_attr() as 'p.rng'" in msgs[0]
    assert "draw_from() as 'params['rng']'" in msgs[1]
    assert a[0] == a[1] == a[2] and b[0] == b[1] == b[2]


@functional
def jitter_np(x):
    return x + float(np.random.rand())


@functional
def jitter_random(x):
    return x + random.random()


@schedule
def jitters(k):
    return [jitter_np(i) for i in range(k)], [jitter_random(i) for i in range(k)]


def test_drawing_from_the_module_random_state_warns(executor):
    with pytest.warns(pydron.PurityWarning) as record:
        a, b = jitters(3)
    msgs = sorted(str(w.message) for w in _purity_warnings(record))
    assert len(msgs) == 2, msgs
    assert "jitter_np() calls np.random.rand()" in msgs[0]
    assert "jitter_random() calls random.random()" in msgs[1]
    assert len(a) == len(b) == 3
