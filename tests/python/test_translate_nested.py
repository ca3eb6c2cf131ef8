import threading
import time

import pytest

import pydron
from gates import SubmitLog, wait_gate
from pydron import _runtime, functional, schedule
from pydron._translate.nested import wrap_nested
from _passes import apply


def test_nested_def_wrapped_top_level_and_generators_not():
    out = apply(wrap_nested, "def f():\n    def g(x):\n        if x:\n            return 1\n        return\n"
                             "    def gen():\n        yield 1\n    return 2\n")
    assert "_pd_mode = __pydron__.enter_nested()" in out
    assert "return __pydron__.leave(_pd_mode, 1)" in out
    assert "return __pydron__.leave(_pd_mode, None)" in out
    assert "except BaseException as _pd_e:\n            __pydron__.nested_error(_pd_e)\n            raise" in out
    assert "    return 2" in out  # the @schedule function itself is not wrapped
    assert "yield 1" in out and out.count("enter_nested") == 1


@functional
def slow(x, t):
    time.sleep(t)
    return x


@functional
def fail(msg):
    raise ValueError(msg)


@functional
def gated(x, gate):
    wait_gate(gate)
    return x


@pytest.fixture(params=["inline", "threads"])
def executor(request):
    pydron.configure(executor=request.param, workers=2)
    return request.param


def test_nested_helper_called_in_loop_runs_in_parallel(monkeypatch, tmp_path):
    pydron.configure(executor="threads", workers=2)
    log = SubmitLog(monkeypatch)

    @schedule
    def main(xs, gate):
        def process(x):
            return slow(gated(x, gate), 0.0)
        return [process(x) for x in xs]

    # the gated tasks run until the last slow() was added
    log.open_gate(slow, 3, tmp_path / "go")
    assert main([1, 2, 3], str(tmp_path / "go")) == [1, 2, 3]
    assert log.done_at_submit == [0] * 6


def test_nested_helper_returns_values_to_unknown_code(executor):
    @schedule
    def main(xs):
        def key(x):
            return slow(-x, 0)
        return sorted(xs, key=key), list(map(key, xs))

    assert main([1, 3, 2]) == ([3, 2, 1], [-1, -3, -2])


def test_nested_helper_after_schedule_returned_is_plain(executor):
    @schedule
    def make():
        k = slow(10, 0)

        def add(x):
            return slow(x, 0) + k
        return add

    add = make()
    assert add(1) == 11


def test_nested_helper_failure_order(executor):
    @schedule
    def main():
        first = fail("first")

        def helper():
            raise KeyError("second")
        helper()
        return first

    with pytest.raises(ValueError, match="first"):
        main()


def test_nested_helper_exception_caught_by_caller(executor):
    @schedule
    def main():
        def helper(i):
            v = slow(i, 0)
            if v == 2:
                return fail(f"bad {i}")
            return v
        out = []
        for i in range(4):
            try:
                out.append(helper(i))
            except ValueError as e:
                out.append(str(e))
        return out

    assert main() == [0, 1, "bad 2", 3]


def test_flag_not_left_set_when_arguments_do_not_bind(executor):
    @schedule
    def main():
        def helper(x):
            return slow(x, 0)
        try:
            helper(1, 2)
        except TypeError:
            pass
        return sorted([3, 1], key=lambda v: helper(v))

    assert main() == [1, 3]
    assert _runtime.state.S.next_lazy is False
