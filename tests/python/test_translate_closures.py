from pydron._translate.closures import register_closures
from pydron._translate.nested import wrap_nested
from pydron._translate.resolve import insert_resolution
from _passes import apply


def test_nested_defs_and_lambdas_are_registered():
    out = apply(register_closures, "def f():\n    @d\n    def g(a=v):\n        return lambda: a\n"
                                   "    h = lambda x=v: x\n")
    # innermost decorator: registers the function itself, before `d` sees it
    assert "@d\n    @__pydron__.closure\n    def g(a=v):" in out
    assert "return __pydron__.closure(lambda: a)" in out
    assert "h = __pydron__.closure(lambda x=v: x)" in out
    assert out.count("closure") == 3  # not the @schedule function itself


def test_class_body_values_bases_and_keywords_are_resolved():
    out = apply(insert_resolution, "def f():\n    class C(b(), metaclass=m):\n        x = v\n"
                                   "        y: int = v\n        z += v\n        w: int\n", False)
    assert "class C(__pydron__.r(b()), metaclass=__pydron__.r(m)):" in out
    for line in ["x = __pydron__.rdeep(v)", "y: int = __pydron__.rdeep(v)", "z += __pydron__.rdeep(v)",
                 "        w: int"]:
        assert line in out


def test_nested_def_keeps_its_docstring():
    out = apply(wrap_nested, "def f():\n    def g():\n        '''doc'''\n        return 1\n"
                             "    def h():\n        '''only a doc'''\n")
    assert "def g():\n        \"\"\"doc\"\"\"\n        _pd_mode = __pydron__.enter_nested()" in out
    assert "def h():\n        \"\"\"only a doc\"\"\"\n        _pd_mode" in out
