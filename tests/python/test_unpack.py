"""Items of results not computed yet: unpacking (`m, s = stats(x)`: one
deferred operation unpacks it in program order and each name gets a
placeholder for its item, stores.unpack) and subscripts of tuples, lists
and small dicts (`res["period"]`, lookahead.item). A loop that reads its
results that way submits every call before the first finishes; an item
the driver or a task needs before its turn is taken from the finished
result without waiting for the tasks before it. Parallelism is measured with a submission spy and gates, never
with timings; the differential program unpack_results compares whole
programs with plain Python on every executor."""

import ast
import textwrap

import pytest

from gates import SubmitLog, wait_gate
from pydron import functional, schedule
from pydron._translate import translate_source


@functional
def stats(i, gate=None):
    wait_gate(gate)
    return float(i), float(-i)


@functional
def refine(m, s):
    return m - s


@functional
def slow(gate):
    wait_gate(gate)
    return 0


@schedule
def collected(n, gate):
    ms = []
    for i in range(n):
        m, s = stats(i, gate)
        ms.append(m)
    return ms


@schedule
def printed_and_summed(n, gate):
    total = 0.0
    for i in range(n):
        (m, s) = stats(i, gate)
        print(i, m, s)
        total += m - s
    return total


@schedule
def into_list_target(n, gate):
    out = []
    for i in range(n):
        [m, s] = stats(i, gate)
        out.append((m, s))
    return out


@pytest.mark.parametrize("fn, expect", [
    (collected, [0.0, 1.0, 2.0]),
    (printed_and_summed, 6.0),
    (into_list_target, [(0.0, -0.0), (1.0, -1.0), (2.0, -2.0)]),
], ids=lambda v: getattr(v, "__name__", None))
def test_every_call_of_an_unpacking_loop_is_submitted_before_the_first_finishes(
        executor, monkeypatch, tmp_path, capsys, fn, expect):
    (tmp_path / "open").touch()
    assert fn(3, str(tmp_path / "open")) == expect   # (result categories learned)
    log = SubmitLog(monkeypatch)
    log.open_gate(stats, 3, tmp_path / "go")
    assert fn(3, str(tmp_path / "go")) == expect
    assert log.done_at_submit == [0, 0, 0]
    if fn is printed_and_summed:
        assert capsys.readouterr().out == "0 0.0 0.0\n1 1.0 -1.0\n2 2.0 -2.0\n" * 2


@schedule
def pipelined(n, gate):
    h = slow(gate)
    out = []
    for i in range(n):
        m, s = stats(i)
        out.append(refine(m, s))
    return out, h


def test_an_item_passed_to_a_task_waits_for_its_result_only(executor, monkeypatch, tmp_path):
    """refine(m, s) needs the items before their turn: they come from the
    finished stats(i), not after slow(gate), which was called first and is
    still running (it waits for the gate, opened once every call was made)."""
    (tmp_path / "open").touch()
    assert pipelined(2, str(tmp_path / "open")) == ([0.0, 2.0], 0)
    log = SubmitLog(monkeypatch)
    log.open_gate(refine, 3, tmp_path / "go")
    assert pipelined(3, str(tmp_path / "go")) == ([0.0, 2.0, 4.0], 0)
    fns = [f._fn for f in log.futures]
    for k, fn in enumerate(fns):
        if fn is refine.__pydron_functional__:
            assert log.done_flags[k][0] is False   # slow(gate) still running


@functional
def analyze(i, gate=None):
    wait_gate(gate)
    return {"period": i * 1.5, "power": -i}


@schedule
def dict_items(n, gate):
    periods, powers = [], []
    for i in range(n):
        res = analyze(i, gate)
        periods.append(res["period"])
        powers.append(res.get("power"))
    return periods, powers


def test_every_call_of_a_loop_reading_dict_results_is_submitted_before_the_first_finishes(
        executor, monkeypatch, tmp_path):
    expect = ([0.0, 1.5, 3.0], [0, -1, -2])
    (tmp_path / "open").touch()
    assert dict_items(3, str(tmp_path / "open")) == expect   # (result categories learned)
    log = SubmitLog(monkeypatch)
    log.open_gate(analyze, 3, tmp_path / "go")
    assert dict_items(3, str(tmp_path / "go")) == expect
    assert log.done_at_submit == [0, 0, 0]


@schedule
def items_passed_on(n, gate):
    h = slow(gate)
    out = []
    for i in range(n):
        res = analyze(i)
        pair = stats(i)
        out.append(refine(res["period"], pair[1]))
    return out, h


def test_a_subscript_passed_to_a_task_waits_for_its_result_only(executor, monkeypatch, tmp_path):
    (tmp_path / "open").touch()
    assert items_passed_on(2, str(tmp_path / "open")) == ([0.0, 2.5], 0)
    log = SubmitLog(monkeypatch)
    log.open_gate(refine, 3, tmp_path / "go")
    assert items_passed_on(3, str(tmp_path / "go")) == ([0.0, 2.5, 5.0], 0)
    for k, f in enumerate(log.futures):
        if f._fn is refine.__pydron_functional__:
            assert log.done_flags[k][0] is False   # slow(gate) still running


def _translated(src, generator=False):
    fdef = ast.parse(textwrap.dedent(src)).body[0]
    return ast.unparse(ast.fix_missing_locations(translate_source(fdef, generator=generator)))


@pytest.mark.parametrize("src, unpacks, its", [
    ("def f(x):\n    a, b = g(x)\n", 1, 0),
    ("def f(x):\n    [a, b] = g(x)\n", 1, 0),
    ("def f(x):\n    (a, b), c = g(x)\n", 2, 0),
    ("def f(x):\n    a, *b = g(x)\n", 0, 1),
    ("def f(x):\n    for a, b in x:\n        h(a)\n", 1, 1),
    ("def f(x):\n    try:\n        a, b = g(x)\n    except* E:\n        pass\n", 0, 1),
])
def test_which_unpackings_may_be_deferred(src, unpacks, its):
    text = _translated(src)
    assert text.count(".unpack(") == unpacks
    assert text.count(".it(") == its


def test_a_generator_function_unpacks_as_before():
    text = _translated("def f(x):\n    a, b = g(x)\n    yield a\n", generator=True)
    assert ".unpack(" not in text and ".it(" in text
