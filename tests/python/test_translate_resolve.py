import pytest

from pydron._translate.resolve import insert_resolution
from _passes import apply


def rs(src, generator=False):
    return apply(insert_resolution, src, generator)


R = "__pydron__.r"
D = "__pydron__.rdeep"
O = "__pydron__.ro"
DO = "__pydron__.rdo"


@pytest.mark.parametrize("src, expect", [
    ("x = a + b", f"x = {O}(a) + {O}(b)"),
    ("x = -a", f"x = -{O}(a)"),
    ("x = '%s' % a", f"x = {O}('%s') % {DO}(a)"),
    ("x = a < b", f"x = {DO}(a) < {DO}(b)"),
    ("x = a in b", f"x = {DO}(a) in {DO}(b)"),
    ("x = a and b", f"x = {O}(a) and {O}(b)"),
    ("x = a if c else b", f"x = a if {O}(c) else b"),
    ("x = a.b", f"x = {R}(a).b"),
    ("x = a[i]", f"x = {R}(a)[{D}(i)]"),
    ("x = a[i:j]", f"x = {R}(a)[{R}(i):{R}(j)]"),
    ("x = f'{a}'", f"x = f'{{{D}(a)}}'"),
    ("x = {a, b}", f"x = {{{D}(a), {D}(b)}}"),
    ("x = {k: v}", f"x = {{{D}(k): v}}"),
    ("x = [a, b]", "x = [a, b]"),
    ("x = (a, b)", "x = (a, b)"),
    ("x = g(a, *b, **c)", f"x = g(a, *__pydron__.it(b), **{R}(c))"),
    ("x = [e for v in xs if c]", f"x = [e for v in __pydron__.it(xs) if {R}(c)]"),
    ("x = {v for v in xs}", f"x = {{{D}(v) for v in __pydron__.it(xs)}}"),
    ("x = (e for v in xs)", f"x = ({D}(e) for v in __pydron__.it(xs))"),
    ("x = lambda: a", f"x = lambda: {D}(a)"),
    ("raise a from b", f"raise {R}(a) from {R}(b)"),
    ("assert a, m", f"assert {R}(a), {D}(m)"),
])
def test_resolution_points(src, expect):
    out = rs(f"def f():\n    {src}\n")
    assert expect in out, out


def test_statement_tests_and_iteration():
    out = rs("def f():\n    if a:\n        pass\n    while b:\n        pass\n    for x in c:\n        pass\n"
             "    with m as n:\n        pass\n")
    assert f"if {O}(a):" in out and f"while {O}(b):" in out
    assert "for x in __pydron__.it(c):" in out
    assert f"with {R}(m) as n:" in out


def test_returns_resolved_only_in_generators():
    out = rs("def f():\n    def g():\n        return a\n    def h():\n        yield 1\n        return c\n    return b\n")
    assert "        return a" in out  # nested def: the nested pass decides
    assert f"return {D}(c)" in out  # nested generator
    assert "    return b" in out


def test_generator_yields_and_returns_resolved():
    out = rs("def f():\n    yield a\n    return b\n", True)
    assert f"yield {D}(a)" in out and f"return {D}(b)" in out


def test_match_subject_and_guard():
    out = rs("def f():\n    match s:\n        case [x] if x:\n            pass\n")
    assert f"match {D}(s):" in out and f"if {R}(x)" in out


def test_runtime_calls_arguments_left_to_runtime():
    out = rs("def f():\n    __pydron__.setitem(a, k, v)\n")
    assert "__pydron__.setitem(a, k, v)" in out
