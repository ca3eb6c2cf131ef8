from pydron._translate.calls import dispatch_calls
from pydron._translate.trybody import lazy_bodies
from pydron._translate.zones import LAZY
from _passes import apply, fdef


def c(src, generator=False):
    return apply(lambda t, g: dispatch_calls(lazy_bodies(t, g), g), src, generator)


def test_try_body_lazy_with_local_store_log_and_rollback():
    out = c("def f(xs):\n    try:\n        for x in xs:\n            y = g(x)\n"
            "    except E:\n        h(x, y)\n")
    assert "__pydron__.try_enter()" in out and "__pydron__.try_fail(" in out
    assert "__pydron__.call(g, x)" in out and "__pydron__.ecall(h, x, y)" in out
    # stores of x and y are logged, and restored from the log on failure
    assert "lsave(_pd_tk" in out and "('x',)" in out and "('y',)" in out
    assert "del x" in out and "del y" in out


def test_try_body_with_stores_the_log_cannot_follow_stays_eager():
    for body in ["(y := g())", "del z", "import m", "with m():\n            g()",
                 "def k():\n            pass", "try:\n            g()\n        finally:\n            pass"]:
        out = c("def f(z):\n    try:\n        " + body + "\n    except E:\n        pass\n")
        assert "try_enter" not in out and "__pydron__.call(" not in out, body




def test_lazy_statements_are_marked_for_the_later_passes():
    tree = lazy_bodies(fdef("def f():\n    try:\n        g()\n    except E:\n        pass\n"
                            "    with m():\n        g()\n    with n():\n        (y := g())\n"), False)
    import ast
    marked = [type(n).__name__ for n in ast.walk(tree) if getattr(n, LAZY, False)]
    assert marked == ["Try", "With"]


def test_generator_and_eager_zones_keep_try_eager():
    out = c("def f():\n    try:\n        g()\n    except E:\n        pass\n", True)
    assert "try_enter" not in out and "__pydron__.ecall(g)" in out
    out = c("def f():\n    l = lambda: 1\n    class C:\n        try:\n            g()\n"
            "        except E:\n            pass\n")
    assert "try_enter" not in out and "__pydron__.ecall(g)" in out
