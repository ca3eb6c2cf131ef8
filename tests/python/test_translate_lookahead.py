import pytest

from pydron._translate.lookahead import look_ahead
from pydron._translate.resolve import insert_resolution
from _passes import apply


def la(src, generator=False):
    return apply(lambda t, g: look_ahead(insert_resolution(t, g), g), src, generator)


@pytest.mark.parametrize("src, expect", [
    ("x = a + b", "x = __pydron__.bop('+', a, b)"),
    ("x = a @ b", "x = __pydron__.bop('@', a, b)"),
    # % (remainder or formatting; the runtime resolves a tuple of arguments
    # deeply when it runs at once) and the bitwise operators, as +
    ("x = a % b", "x = __pydron__.bop('%', a, b)"),
    ("x = a & b", "x = __pydron__.bop('&', a, b)"),
    ("x = a << b", "x = __pydron__.bop('<<', a, b)"),
    ("x = a[i]", "x = __pydron__.item(a, __pydron__.rdeep(i))"),
    ("x = a[1:2]", "x = __pydron__.rsub(a)[__pydron__.r(1):__pydron__.r(2)]"),
    ("x = a.shape", "x = __pydron__.attr(a, 'shape')"),
    ("x = a.sum(1)", "x = __pydron__.mcall(a, 'sum', 1)"),
    ("x = f'{a:>{w}}'", "x = __pydron__.fjoin(__pydron__.fv(a, -1, __pydron__.fjoin('>', __pydron__.fv(w, -1))))"),
])
def test_operations_over_resolved_operands_may_be_deferred(src, expect):
    assert expect in la(f"def f():\n    {src}\n")


def test_eager_zones_keep_plain_resolution():
    out = la("def f():\n    g = lambda: a + b\n", False)
    assert "bop" not in out and "__pydron__.ro(a) + __pydron__.ro(b)" in out
    out = la("def f():\n    x = a.sum()\n    yield x\n", True)
    assert "mcall" not in out


def test_starred_method_calls_keep_the_method_name_for_pythons_messages():
    out = la("def f():\n    x = a.reshape(*s)\n    y = a.m(**k)\n")
    assert "x = __pydron__.mstar(a, 'reshape')(*__pydron__.it(s))" in out
    assert "y = __pydron__.mstar(a, 'm')(**__pydron__.r(k))" in out


def test_only_marked_operands_are_taken():
    # a runtime call written by hand is not the resolve pass's: it stays a call
    out = apply(look_ahead, "def f():\n    x = __pydron__.ro(a) + __pydron__.ro(b)\n", False)
    assert "bop" not in out
