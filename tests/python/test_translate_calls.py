from pydron._translate.calls import dispatch_calls
from pydron._translate.trybody import lazy_bodies
from _passes import apply


def c(src, generator=False):
    # the trybody pass marks the lazy try/with statements the calls pass sees
    return apply(lambda t, g: dispatch_calls(lazy_bodies(t, g), g), src, generator)


def test_calls_dispatched_lazily_at_top_level():
    out = c("def f():\n    x = g(1, k=2)\n    h(*a, **b)\n")
    assert "x = __pydron__.call(g, 1, k=2)" in out
    # `*`/`**`: through star(f), so that Python's message names f
    assert "__pydron__.star(h)(*a, **b)" in out


def test_eager_inside_try_with_lambda_genexp_class_lazy_nested_def():
    out = c("def f():\n"
            "    try:\n        a()\n    except E:\n        b()\n    finally:\n        c2()\n"
            "    with m():\n        d()\n"
            "    def g():\n        e()\n"
            "    l = lambda: q()\n"
            "    s = sum((w(i) for i in z))\n"
            "    class C:\n        v = u()\n"
            "    after()\n")
    for name in ["b", "c2", "q", "w", "u"]:
        assert f"__pydron__.ecall({name})" in out or f"__pydron__.ecall({name}, i)" in out, name
    assert "__pydron__.call(after)" in out
    # a try body runs lazily (its failures are brought back to their point)
    assert "__pydron__.call(a)" in out and "__pydron__.try_exit(" in out
    # so does a with body (its failure is raised inside the block)
    assert "__pydron__.call(d)" in out
    # a nested def's body is lazy (the nested pass decides how it returns)
    assert "__pydron__.call(e)" in out
    assert "__pydron__.call(sum" in out
    # `with m()`: the context manager expression itself is inside the with statement
    assert "__pydron__.ecall(m)" in out


def test_generator_function_is_eager_everywhere():
    out = c("def f():\n    yield g()\n", True)
    assert "__pydron__.ecall(g)" in out and ".call(" not in out


def test_frame_sensitive_builtins_get_the_frame_and_hide_pydron():
    out = c("def f():\n    super().m()\n    g = globals()\n    a = locals()\n    b = vars()\n"
            "    d = dir()\n    e = eval('x')\n    exec('y', None, n)\n    v = vars(o)\n    w = dir(o)\n")
    assert "super()" in out and "g = globals()" in out
    assert "a = __pydron__.locals_(locals())" in out and "b = __pydron__.locals_(locals())" in out
    assert "d = __pydron__.dir_(locals())" in out
    assert "e = __pydron__.eval_(globals(), locals(), 'x')" in out
    assert "__pydron__.exec_(globals(), locals(), 'y', None, n)" in out
    # with an object they are ordinary calls
    assert "__pydron__.call(vars, o)" in out and "__pydron__.call(dir, o)" in out


def test_class_body_locals_is_the_namespace_itself():
    out = c("def f():\n    class C:\n        ns = locals()\n        def m(self):\n            return locals()\n")
    assert "ns = locals()" in out and "return __pydron__.locals_(locals())" in out


def test_eager_star_calls_and_decorators():
    out = c("def f():\n    l = lambda: g(*a)\n    class C:\n        @property\n        def p(self):\n"
            "            return 1\n")
    assert "__pydron__.estar(g)(*a)" in out and "@__pydron__.edeco(property)" in out


def test_nested_def_defaults_and_decorators_run_in_enclosing_scope():
    out = c("def f():\n    @dec(1)\n    def g(x=h()):\n        pass\n")
    assert "@__pydron__.deco(__pydron__.call(dec, 1))" in out
    assert "x=__pydron__.call(h)" in out


def test_runtime_calls_not_dispatched():
    out = c("def f():\n    __pydron__.setitem(a, k(), v)\n")
    assert "__pydron__.setitem(a, __pydron__.call(k), v)" in out


def test_nested_generator_def_stays_eager():
    out = c("def f():\n    def g():\n        yield h()\n")
    assert "__pydron__.ecall(h)" in out
