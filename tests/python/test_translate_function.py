"""The rebuilt function: same closure, defaults, globals, names, methods; errors
at decoration; PYDRON_DISABLE; and the call dispatch by callee object."""

import os
import subprocess
import sys
import textwrap
import traceback

import pytest

import pydron
from pydron import functional, schedule


@pytest.fixture(autouse=True, params=["inline", "threads"])
def executor(request):
    pydron.configure(executor=request.param, workers=2)
    yield request.param


@functional
def inc(x):
    return x + 1


G = 10


def test_closure_defaults_kwdefaults_globals_kept():
    k = 5

    @schedule
    def f(a, b=2, *, c=3):
        return inc(a) + b + c + k + G

    assert f(1) == 2 + 2 + 3 + 5 + 10
    assert f(1, 0, c=0) == 2 + 5 + 10
    assert f.__name__ == "f" and f.__qualname__.endswith("f")
    assert f.__wrapped__.__defaults__ == (2,)


def test_closure_cells_are_shared_not_copied():
    count = 0

    @schedule
    def bump():
        nonlocal count
        count += inc(0)

    bump()
    bump()
    assert count == 2


def test_recursion_through_global_name():
    assert fact(6) == 720


@schedule
def fact(n):
    if n <= 1:
        return inc(0)
    return n * fact(n - 1)


def test_method_binding_and_super():
    class Base:
        def val(self):
            return 1

    class Child(Base):
        @schedule
        def val(self):
            return super().val() + inc(self.k)

        k = 4

    assert Child().val() == 6


def test_functional_outside_schedule_is_plain_call():
    assert inc(1) == 2


def test_traceback_points_at_original_lines():
    @schedule
    def f():
        x = inc(1)
        raise ValueError(x)  # the line to find

    with pytest.raises(ValueError) as e:
        f()
    lines = traceback.format_tb(e.value.__traceback__)
    assert any("raise ValueError(x)  # the line to find" in l for l in lines)


def test_returns_plain_values_not_placeholders():
    @schedule
    def f():
        return [inc(1), (inc(2), {"k": inc(3)})]

    assert f() == [2, (3, {"k": 4})]


def test_mutated_argument_gets_values():
    @schedule
    def fill(out):
        for i in range(3):
            out.append(inc(i))

    out = []
    fill(out)
    assert out == [1, 2, 3]


def test_unknown_code_never_sees_a_placeholder_via_globals():
    @schedule
    def f():
        for i in range(3):
            SEEN.append(inc(i))
        return peek()

    SEEN.clear()
    assert f() == [1, 2, 3]


SEEN = []


def peek():
    return list(SEEN)


def test_disable_makes_identity_decorators():
    code = textwrap.dedent("""
        import pydron
        def f(): return 1
        assert pydron.schedule(f) is f and pydron.functional(f) is f
        print("identity")
    """)
    env = dict(os.environ, PYDRON_DISABLE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "identity", out.stderr


def test_import_pydron_loads_nothing_heavy():
    code = "import sys, pydron; print(sorted(m for m in sys.modules if m.startswith('pydron')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.strip() == "['pydron', 'pydron._translate.validate', 'pydron._translate']" \
        or "pydron._core" not in out.stdout, out.stdout + out.stderr
    assert "pydron._core" not in out.stdout and "pydron._backend" not in out.stdout


def test_traceback_line_of_lowered_item_store():
    @schedule
    def f():
        xs = [inc(0)]
        xs[5] = inc(1)  # the store line

    with pytest.raises(IndexError) as e:
        f()
    lines = traceback.format_tb(e.value.__traceback__)
    assert any("xs[5] = inc(1)  # the store line" in l for l in lines), lines
