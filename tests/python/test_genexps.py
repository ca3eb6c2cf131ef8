"""Generator expressions consumed whole by a builtin (`sum(f(x) for x in xs)`)
or by a translated loop: every task of the expression is submitted before
the first finishes (the lazy twin, _runtime/genexps.py), in windows when
there are many, and what the program sees stays sequential. Parallelism is measured with a submission
spy and gates, never with timings. The differential programs
genexp_consumed_whole, genexp_loops and map_consumed_effects compare whole programs with
plain Python on every executor."""

import ast
import math
import re
import statistics
import textwrap

import pytest

import pydron
from gates import SubmitLog, wait_gate
from pydron import functional, schedule
from pydron._runtime.state import S
from pydron._translate import translate_source


@functional
def work(i, gate=None):
    wait_gate(gate)
    return i * 10


@schedule
def summed(n, gate):
    return sum(work(i, gate) for i in range(n))


@schedule
def maximum_of_operator(n, gate):
    xs = list(range(n))
    return max(work(i, gate) + 1 for i in xs)


@schedule
def sorted_negated(n, gate):
    return sorted((-work(i, gate) for i in range(n)), reverse=True)


@schedule
def list_filtered(n, gate):
    return list(work(i, gate) for i in range(n) if i % 2 == 0)


@schedule
def minimum_enumerated(n, gate):
    return min(work(i, gate) - v for i, v in enumerate(range(n)))


@schedule
def set_of_quotients(n, gate):
    return set(work(i, gate) // 20 for i in range(n))


@schedule
def summed_with_start(n, gate):
    return sum((work(i, gate) for i in range(n)), 5)


@schedule
def summed_map(n, gate):
    return sum(map(work, range(n), [gate] * n))


@schedule
def counted(n, gate):
    return sum(work(i, gate) > 5 for i in range(n))


@schedule
def joined(n, gate):
    return "-".join(str(work(i, gate)) for i in range(n))


@schedule
def stats_mean(n, gate):
    return statistics.mean(work(i, gate) for i in range(n))


@schedule
def stats_median_of_map(n, gate):
    return statistics.median(map(work, range(n), [gate] * n))


@schedule
def stats_quantiles_with_keywords(n, gate):
    return statistics.quantiles((work(i, gate) for i in range(n)), n=2, method="inclusive")


@schedule
def fsum_of_quotients(n, gate):
    return math.fsum(work(i, gate) / 4 for i in range(n))


@schedule
def prod_with_start(n, gate):
    return math.prod((work(i, gate) + 1 for i in range(n)), start=2)


@schedule
def max_by_key(n, gate):
    return max(range(n), key=lambda i: work(i, gate))


@schedule
def min_by_key_with_default(n, gate):
    return min(range(n), key=lambda i: -work(i, gate), default=None)


@schedule
def sorted_by_key_reversed(n, gate):
    return sorted(list(range(n)), key=lambda i: (work(i, gate), -i), reverse=True)


@schedule
def loop_over(n, gate):
    out = []
    for v in (work(i, gate) for i in range(n)):
        out.append(v)
    return out


@schedule
def loop_enumerated(n, gate):
    total = 0
    for i, v in enumerate(work(i, gate) for i in range(n)):
        total += v * i
    return total


@schedule
def comprehension_over(n, gate):
    return [v + 1 for v in (work(i, gate) for i in range(n))]


@schedule
def summed_grid(n, gate):
    return sum(work(i + j, gate) for i in range(1) for j in range(n))


@schedule
def summed_rows(n, gate):
    return sum(work(y, gate) for row in [[0], list(range(1, n))] for y in row)


@schedule
def loop_over_grid(n, gate):
    out = []
    for v in (work(i + j, gate) for i in range(n) for j in range(1)):
        out.append(v)
    return out


class Frame:
    """An image with its sources, as a pipeline holds them (plain attributes)."""

    def __init__(self, sources):
        self.sources = sources


@schedule
def summed_sources(n, gate):
    frames = [Frame([0]), Frame(list(range(1, n)))]
    return sum(work(s, gate) for f in frames for s in f.sources)


@schedule
def summed_table_rows(n, gate):
    table = {"a": [0], "b": list(range(1, n))}
    return sum(work(y, gate) for k in ["a", "b"] for y in table[k])


@schedule
def summed_tails(n, gate):
    xs = list(range(n))
    return sum(work(y, gate) for i in range(1) for y in xs[i:])


@pytest.mark.parametrize("fn, expect", [
    (summed_grid, 30), (summed_rows, 30), (loop_over_grid, [0, 10, 20]),
    (summed_sources, 30), (summed_table_rows, 30), (summed_tails, 30),
    (summed, 30), (maximum_of_operator, 21), (sorted_negated, [0, -10, -20]),
    (list_filtered, [0, 20]), (minimum_enumerated, 0), (set_of_quotients, {0, 1}),
    (summed_with_start, 35), (summed_map, 30), (loop_over, [0, 10, 20]),
    (loop_enumerated, 50), (comprehension_over, [1, 11, 21]), (joined, "0-10-20"),
    (counted, 2), (stats_mean, 10), (stats_median_of_map, 10),
    (stats_quantiles_with_keywords, [10.0]), (fsum_of_quotients, 7.5), (prod_with_start, 462),
    (max_by_key, 2), (min_by_key_with_default, 2), (sorted_by_key_reversed, [2, 1, 0]),
], ids=lambda v: getattr(v, "__name__", None))
def test_every_task_of_the_expression_is_submitted_before_the_first_finishes(
        executor, monkeypatch, tmp_path, fn, expect):
    (tmp_path / "open").touch()
    count = SubmitLog(monkeypatch)
    assert fn(3, str(tmp_path / "open")) == expect  # (result categories learned)
    tasks = len(count.futures)
    assert tasks == (2 if fn is list_filtered else 3)
    log = SubmitLog(monkeypatch)
    log.open_gate(work, tasks, tmp_path / "go")  # once the last one was added
    assert fn(3, str(tmp_path / "go")) == expect
    assert log.done_at_submit == [0] * tasks


@functional
def item_key(t):
    i, gate = t
    wait_gate(gate)
    return -i


@schedule
def sorted_by_named_key(n, gate):
    return [i for i, _ in sorted([(i, gate) for i in range(n)], key=item_key)]


@schedule
def max_by_named_key(n, gate):
    return max([(i, gate) for i in range(n)], key=item_key)[0]


@schedule
def list_sort_by_named_key(n, gate):
    items = [(i, gate) for i in range(n)]
    items.sort(key=item_key)
    return [i for i, _ in items]


@schedule
def list_sort_by_lambda_reversed(n, gate):
    items = [(i, gate) for i in range(n)]
    items.sort(key=lambda t: item_key(t) * 2, reverse=True)
    return [i for i, _ in items]


@pytest.mark.parametrize("fn, expect", [(sorted_by_named_key, [2, 1, 0]), (max_by_named_key, 0),
                                        (list_sort_by_named_key, [2, 1, 0]),
                                        (list_sort_by_lambda_reversed, [0, 1, 2])],
                         ids=lambda v: getattr(v, "__name__", None))
def test_a_key_given_by_name_submits_every_call_first(executor, monkeypatch, tmp_path, fn, expect):
    (tmp_path / "open").touch()
    assert fn(3, str(tmp_path / "open")) == expect
    log = SubmitLog(monkeypatch)
    log.open_gate(item_key, 3, tmp_path / "go")
    assert fn(3, str(tmp_path / "go")) == expect
    assert log.done_at_submit == [0, 0, 0]


@functional
def fails_at_3(i):
    if i == 3:
        raise ValueError(f"item {i}")
    return i


@schedule
def failing_sum(n):
    return sum(fails_at_3(i) for i in range(n))


@schedule
def failing_sort(n):
    xs = list(range(n))
    xs.sort(key=lambda v: fails_at_3(v))
    return xs


@pytest.mark.parametrize("fn", [failing_sum, failing_sort], ids=lambda f: f.__name__)
def test_a_failing_step_is_raised_alone(executor, fn):
    # not again as "during handling of the above exception" of itself
    with pytest.raises(ValueError, match="item 3") as ei:
        fn(6)
    e = ei.value
    assert e.__context__ is None or e.__suppress_context__


def test_the_first_expression_runs_ahead_with_no_result_seen_yet(executor, monkeypatch, tmp_path):
    @functional
    def fresh(i, gate):
        wait_gate(gate)
        return i

    @schedule
    def run(gate):
        return sum(fresh(i, gate) for i in range(4))

    log = SubmitLog(monkeypatch)
    log.open_gate(fresh, 4, tmp_path / "go")
    assert run(str(tmp_path / "go")) == 6
    assert log.done_at_submit == [0, 0, 0, 0]


@functional
def inc(i):
    if i == 37:
        raise ValueError("item 37")
    return i + 1


def items_sum(n, bad):
    return sum(inc(i) if i != bad else "x" for i in range(n))


def _outcome(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - the outcome compared
        return type(e), str(e)


def test_windows_of_steps_keep_the_sequential_program(monkeypatch):
    """More items than the window of tasks ahead: the twin's steps are taken
    a window at a time, half a window ahead of the consumer; the value, or
    the exception of the first failing item, as in plain Python."""
    from pydron._runtime import genexps

    pydron.configure(executor="threads", workers=2)
    monkeypatch.setattr(S, "window", 8)
    taken = []
    real = genexps.steps

    def steps(gen, src, limit=None, close=True):
        out, rest = real(gen, src, limit, close)
        taken.append((limit, len(out)))
        return out, rest
    monkeypatch.setattr(genexps, "steps", steps)
    run = schedule(items_sum)
    held = schedule(held_items_sum)
    for n, bad in [(30, -1), (30, 21), (60, -1), (45, 40), (45, 3), (8, -1), (0, -1)]:
        taken.clear()
        assert _outcome(run, n, bad) == _outcome(items_sum, n, bad), (n, bad)
        assert all(limit == 8 and k <= 8 for limit, k in taken), taken
        if n >= 30 and not 0 <= bad < 24:  # (the consumer fails in the first windows)
            assert len(taken) >= 3, (n, bad, taken)
        # the program holds the expression and reads on where the consumer
        # stopped: what later windows' steps took is given back
        taken.clear()
        assert _outcome(held, n, bad) == _outcome(held_items_sum, n, bad), (n, bad)
        if n >= 30 and not 0 <= bad < 24:
            assert len(taken) >= 3, (n, bad, taken)


def held_items_sum(n, bad):
    gen = (inc(i) if i != bad else "x" for i in range(n) if i % 7 != 3)
    try:
        total = sum(gen)
    except (TypeError, ValueError) as e:
        total = str(e)
    return total, list(gen)


@functional
def fails_at(i, bad):
    if i == bad:
        raise ValueError("item %d" % i)
    return i + 1


def loop_failing_item(n, bad):
    for v in (fails_at(i, bad) for i in range(n)):
        print("ok", v)
    return "done"


def earlier_then_loop(n, bad):
    a = fails_at(bad, bad)
    print("a", a)
    for v in (fails_at(i, -1) for i in range(n)):
        print("ok", v)
    return "done"


def earlier_then_sum(n, bad):
    a = fails_at(bad, bad)
    print("a", a)
    return sum(fails_at(i, -1) for i in range(n))


def earlier_then_sorted(n, bad):
    a = fails_at(bad, bad) + 1
    print("a", a)
    return sorted((fails_at(i, -1) for i in range(n)), reverse=True)


def zipped_failing_item(n, bad):
    for i, v in zip(range(n), (fails_at(i, bad) for i in range(n))):
        print("ok", i, v)
    return [v * 2 for v in (fails_at(i, bad + 1) for i in range(n))]


@functional
def text_at(i, bad):
    if i == bad:
        raise KeyError(i)
    return "s" if i == 1 else i


def consumer_fails_first_map(n, bad):
    return sum(map(text_at, range(n), [bad] * n))  # 0 + "s": before text_at(bad) fails


def consumer_fails_first_genexp(n, bad):
    return sum(text_at(i, bad) for i in range(n))


def consumer_reaches_failing_step(n, bad):
    return sorted(map(fails_at, range(n), [bad] * n))


@pytest.mark.parametrize("fn", [loop_failing_item, earlier_then_loop, earlier_then_sum,
                                earlier_then_sorted, zipped_failing_item,
                                consumer_fails_first_map, consumer_fails_first_genexp,
                                consumer_reaches_failing_step],
                         ids=lambda f: f.__name__)
def test_an_earlier_failure_raised_while_the_twin_steps_is_the_programs(
        executor, monkeypatch, capsys, fn):
    """A submission in a step of the twin polls the finished front and raises
    the first failure whose turn has come: one of an earlier item, or of a
    statement before the expression. It is raised there, as sequential code
    raises it earlier, and not taken for the step's own failure (which would
    forget it and go on with the rest). A step taken ahead of a consumer
    that stops earlier (sum meets 0 + "s") raises nothing, even when the
    window makes the submissions wait for the front. Small byte windows make
    the steps wait for the front at different items."""
    want = _outcome(fn, 6, 3), capsys.readouterr().out
    run = schedule(fn)
    for window in (1, 20, 30, 40, 60, 80, 100, 150, 300, 1 << 30):
        monkeypatch.setattr(S, "window_bytes", window)
        got = _outcome(run, 6, 3), capsys.readouterr().out
        assert got == want, window


def _translated(src):
    fdef = ast.parse(textwrap.dedent(src)).body[0]
    return ast.unparse(translate_source(fdef))


@pytest.mark.parametrize("expr, twin", [
    ("sum(f(x) for x in xs)", True),
    ("max(f(x) ** 2 + k for x in xs if x > 0)", True),
    ("sum(f(a, b) for a, b in pairs)", True),
    ("sorted(np.sqrt(f(x)).mean() for x in xs)", True),
    ("sum(f'{f(x):.2f}'.count('1') for x in xs)", True),
    ("sum(f(x) for x in xs for y in ys)", True),      # two fors: one over nest()
    ("sum(f(x, y) for x in xs for y in range(x + 1))", True),
    ("sum(f(y) for x in xs for y in x if y)", True),
    ("sum(f(x) for x in xs if x for y in ys)", False),    # a condition on an outer for
    ("sum(f(x) for x in xs for y in g(x))", False),       # an inner iterable that calls
    ("sum(f(y) for x in xs for a, b in pairs for y in ys)", False),  # an outer target not a name
    ("sum(f(y) for x in xs for y in ys[0])", True),       # nest reads it (pitem: no code)
    ("sum(f(y) for x in xs for y in x.sources)", True),   # an attribute (pattr)
    ("sum(f(y) for x in xs for y in ys[x + 1])", True),
    ("sum(f(y) for x in xs for y in ys[x:])", True),      # a slice of plain bounds
    ("sum(f(y) for x in xs for y in ys[::2])", True),
    ("sum(f(y) for x in xs for y in ys['a'])", True),
    ("sum(f(y) for x in xs for y in x.a.b)", False),      # an attribute of an attribute
    ("sum(f(y) for x in xs for y in ys[g(x)])", False),   # a key that calls
    ("sum(f(y) for x in xs for y in ys[x][0])", False),   # a subscript of a subscript
    ("sum(f(y) for x in xs for y in ys[x:g(x)])", False), # a bound that calls
    ("sum(f(y) for x in xs for y in y.a)", False),        # reads its own target
    ("sum(f(x) for x in xs for y in y)", False),          # reads its own target
    ("sum((y := f(x)) for x in xs)", False),          # stores in the enclosing scope
    ("sum(g(lambda: x) for x in xs)", False),         # a lambda
    ("sum(sum(f(y) for y in x) for x in xs)", False),  # the outer (the inner has a twin)
    ("sum(f(x)[1:3] for x in xs)", False),            # a slice Python runs itself
    ("sum({f(x)} for x in xs)", False),               # a set display hashes
    ("sum(f(*x) for x in xs)", False),                # a * call
    ("sum(x * k for x in xs)", False),                # no call: no task to submit ahead
    ("sum(f(x) > k for x in xs if x < k)", True),     # (a comparison item is deferred)
    ("any(f(x) < k < 5 for x in xs)", True),          # (a chained one is looked at)
])
def test_which_expressions_get_a_twin(expr, twin):
    code = _translated(f"def main(xs, ys, pairs, k):\n    return {expr}\n")
    outer = code.split("return ", 1)[1]
    assert bool(re.match(r"__pydron__\.call\(\w+, __pydron__\.gx\(", outer)) == twin, code
    if not twin:  # the source as it was
        assert "gxsrc" not in outer.split("for x in", 1)[1].split(")", 1)[0], code


def test_a_twin_runs_no_code_of_the_program():
    code = _translated("def main(xs, k):\n    return sum(f(x) * k + len(x) for x in xs if x)\n")
    twin = code.split("__pydron__.gxlast()")[0].rsplit("), (", 1)[1]
    for helper in ("call(", "bop(", "mcall(", "attr(", "item("):
        assert f"__pydron__.{helper}" not in twin, twin
    assert "__pydron__.pcall(f, x)" in twin and "__pydron__.pbop(" in twin


def test_a_comparison_item_is_deferred_and_a_tested_one_is_not():
    code = _translated("def main(xs, k):\n    return sum(f(x) > k for x in xs if f(x) < k)\n")
    twin = code.split("__pydron__.gxlast()")[1]
    assert "__pydron__.pcop('>', __pydron__.pcall(f, x), k)" in code
    assert "__pydron__.pro(__pydron__.prdo(__pydron__.pcall(f, x)) < __pydron__.prdo(k))" in twin


@schedule
def any_above(n, limit, gate):
    return any(work(i, gate) > limit for i in range(n))


@schedule
def all_below(n, limit, gate):
    return all(work(i, gate) < limit for i in range(n))


@pytest.mark.parametrize("fn, expect", [(any_above, False), (all_below, True)],
                         ids=lambda v: getattr(v, "__name__", None))
def test_any_and_all_keep_the_workers_busy(executor, monkeypatch, tmp_path, fn, expect):
    """any/all over a scan that does not stop: two items per worker are
    submitted before the first finishes, then the rest as the consumer goes."""
    (tmp_path / "open").touch()
    assert fn(10, 1000, str(tmp_path / "open")) is expect  # (result categories learned)
    log = SubmitLog(monkeypatch)
    log.open_gate(work, 4, tmp_path / "go")
    assert fn(10, 1000, str(tmp_path / "go")) is expect
    assert log.done_at_submit[:4] == [0, 0, 0, 0]
    assert len(log.futures) == 10


@functional
def work_above(i, gate, limit):
    wait_gate(gate)
    return i * 10 > limit


@functional
def work_below(i, gate, limit):
    wait_gate(gate)
    return i * 10 < limit


@schedule
def any_above_map(n, limit, gate):
    return any(map(work_above, range(n), [gate] * n, [limit] * n))


@schedule
def all_below_map(n, limit, gate):
    return all(map(work_below, range(n), [gate] * n, [limit] * n))


@pytest.mark.parametrize("fn, expect", [(any_above_map, False), (all_below_map, True)],
                         ids=lambda v: getattr(v, "__name__", None))
def test_any_and_all_over_a_map_keep_the_workers_busy(executor, monkeypatch, tmp_path, fn,
                                                      expect):
    """any/all over a map of a @functional, as over a generator expression:
    a few items are submitted before the first finishes."""
    (tmp_path / "open").touch()
    assert fn(10, 1000, str(tmp_path / "open")) is expect
    log = SubmitLog(monkeypatch)
    log.open_gate(work_above if fn is any_above_map else work_below, 4, tmp_path / "go")
    assert fn(10, 1000, str(tmp_path / "go")) is expect
    assert log.done_at_submit[:4] == [0, 0, 0, 0]
    assert len(log.futures) == 10


@schedule
def any_map_then_horizon(n, limit, gate):
    from pydron._runtime.state import S

    found = any(map(work_above, range(n), [gate] * n, [limit] * n))
    return found, S.horizon


def test_any_over_a_map_that_stops_early_leaves_no_horizon(executor, tmp_path):
    """S.horizon (tasks past it are not settled by polls) is any/all's while
    they read: left set after any() returned, the window stopped holding
    (_shrink polls) and failures waited for a barrier."""
    (tmp_path / "open").touch()
    assert any_above_map(40, 15, str(tmp_path / "open")) is True
    assert any_map_then_horizon(40, 15, str(tmp_path / "open")) == (True, None)


@pytest.mark.parametrize("fn, expect", [(any_above_map, True), (all_below_map, False)],
                         ids=lambda v: getattr(v, "__name__", None))
def test_any_and_all_over_a_map_stop_a_few_items_ahead(executor, monkeypatch, tmp_path, fn,
                                                       expect):
    (tmp_path / "open").touch()
    assert fn(40, 15, str(tmp_path / "open")) is expect
    log = SubmitLog(monkeypatch)
    assert fn(40, 15, str(tmp_path / "open")) is expect
    assert 3 <= len(log.futures) <= 8, len(log.futures)


@pytest.mark.parametrize("fn, expect", [(any_above, True), (all_below, False)],
                         ids=lambda v: getattr(v, "__name__", None))
def test_any_and_all_stop_a_few_items_ahead(executor, monkeypatch, tmp_path, fn, expect):
    """Where any/all stop (item 2 here), at most a window or two of items
    beyond had their tasks submitted: not the whole scan."""
    (tmp_path / "open").touch()
    assert fn(40, 15, str(tmp_path / "open")) is expect
    log = SubmitLog(monkeypatch)
    assert fn(40, 15, str(tmp_path / "open")) is expect
    assert 3 <= len(log.futures) <= 8, len(log.futures)
