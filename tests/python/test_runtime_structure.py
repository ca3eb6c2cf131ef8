"""The shape of the driver runtime (issue 10): call() classifies each callee
once through a table; deferred operations (Lazy) live with the look-ahead
code, not joined to the backend by a module global; the binding registers
translated code through a function."""

import collections

import pytest

import pydron
from pydron import _backend, _runtime, functional, schedule
from pydron._runtime import calls, lookahead


@functional
def twice(x):
    return 2 * x


class Box:
    def __init__(self):
        self.items = []

    @functional
    def scaled(self, x):
        return 3 * x


def test_each_builtin_callee_is_classified_once(monkeypatch, executor):
    """Builtins, classes, methods of builtin objects: once (the program's
    own functions are classified by two lookups at each call, without a
    table that would keep them and their closures alive)."""
    seen = collections.Counter()
    real = calls._classify

    def counting(f, tf):
        seen[getattr(f, "__qualname__", None) or getattr(f, "__name__", repr(f))] += 1
        return real(f, tf)

    monkeypatch.setattr(calls, "_classify", counting)
    calls._kinds.clear()
    box = Box()

    @schedule
    def main():
        out = []
        for i in range(50):
            out.append(twice(i))          # a @functional function
            out.append(box.scaled(i))     # a @functional method
            out.append(len(out))          # a pure builtin
            d = dict(a=i)                 # a class
            d.update(b=i)                 # a method of a builtin object (a new one each time)
        return sum(out)

    assert main() == sum(2 * i + 3 * i for i in range(50)) + sum(range(2, 151, 3))
    assert seen["len"] == 1
    assert seen["dict"] == 1
    assert seen["dict.update"] == 1, seen  # d.update: one entry for (dict, "update")


def test_callables_whose_hash_is_the_programs_are_not_hashed(executor):
    class Weird:
        hashed = 0

        def __hash__(self):
            Weird.hashed += 1
            return 1

        def __call__(self, x):
            return x + 1

    w = Weird()

    @schedule
    def main():
        total = 0
        for i in range(5):
            total += w(twice(i))
        return total

    assert main() == sum(2 * i + 1 for i in range(5))
    assert Weird.hashed == 0


def test_lazy_lives_with_the_lookahead_code():
    assert lookahead.Lazy.__module__ == "pydron._runtime.lookahead"
    assert issubclass(lookahead.Lazy, _backend.Future)
    assert not hasattr(_backend, "Lazy")
    assert not hasattr(_backend, "drain_to")  # no module global joins them


def test_schedule_registers_its_code_through_a_function(monkeypatch):
    got = []
    monkeypatch.setattr(_runtime, "register", lambda codes, lazy: got.append((codes, lazy)))

    def outer(xs):
        def helper(v):
            return twice(v)
        return [helper(x) for x in xs]

    schedule(outer)
    (codes, lazy), = got
    names = {c.co_name for c in codes}
    assert {"helper", "<listcomp>"} <= names
    assert [c.co_name for c in lazy] == ["helper"]
    assert not hasattr(_runtime, "_translated_codes") and not hasattr(_runtime, "_lazy_codes")


@pytest.fixture(params=["inline", "threads"])
def executor(request):
    pydron.configure(executor=request.param, workers=2)
    yield request.param
    _backend.shutdown()
