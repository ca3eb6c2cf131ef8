from pydron._translate.targets import lower_targets
from _passes import apply


def t(src):
    return apply(lower_targets, src)


def test_plain_name_binding_unchanged():
    assert t("def f():\n    x = g()\n") == "def f():\n    x = g()"


def test_item_and_attribute_store_evaluate_value_first():
    out = t("def f(a, o):\n    a[i] = v()\n    o.x = w()\n")
    assert "_pd_t1 = v()\n    __pydron__.setitem(a, i, _pd_t1)" in out
    assert "_pd_t2 = w()\n    __pydron__.setattr_(o, 'x', _pd_t2)" in out


def test_slice_store_becomes_slice_object():
    out = t("def f(a):\n    a[1:3] = v\n")
    assert "__pydron__.setitem(a, __pydron__.slice_(1, 3, None), _pd_t1)" in out


def test_unpacking_is_iteration_and_nested_targets_lowered():
    out = t("def f(v):\n    a, (b, c[0]), *d = v\n")
    assert "a, _pd_t1, *d = __pydron__.it(v)" in out
    # no star: unpack, which may defer a result's unpacking (stores.unpack)
    assert "b, _pd_t2 = __pydron__.unpack(_pd_t1, 2)" in out
    assert "__pydron__.setitem(c, 0, _pd_t2)" in out


def test_chained_assignment_uses_one_value():
    out = t("def f():\n    a = b[0] = g()\n")
    assert out.count("g()") == 1
    assert "a = _pd_t1" in out and "__pydron__.setitem(b, 0, _pd_t1)" in out


def test_augassign_forms():
    out = t("def f(o, d):\n    n += 1\n    o.v *= 2\n    d[k()] -= 3\n")
    assert "n = __pydron__.aug('+', n, 1)" in out
    assert "__pydron__.setattr_(_pd_t1, 'v', __pydron__.aug('*', _pd_t1.v, 2))" in out
    # the key expression is evaluated once
    assert out.count("k()") == 1
    assert "__pydron__.setitem(_pd_t2, _pd_t3, __pydron__.aug('-', _pd_t2[_pd_t3], 3))" in out


def test_del_forms():
    out = t("def f(a, o):\n    del a[0], o.x, y\n")
    assert "__pydron__.delitem(a, 0)" in out
    assert "__pydron__.delattr_(o, 'x')" in out
    assert "del y" in out


def test_for_and_with_targets():
    out = t("def f(xs):\n    for a, b in xs:\n        pass\n    with m() as o.h:\n        pass\n")
    assert "for _pd_t1 in xs:\n        a, b = __pydron__.unpack(_pd_t1, 2)" in out
    assert "with m() as _pd_t2:\n        __pydron__.setattr_(o, 'h', _pd_t2)" in out


def test_comprehension_tuple_target_unpacks_value():
    out = t("def f(xs):\n    return [a for a, b in xs if b]\n")
    assert "for _pd_t1 in xs for a, b in [__pydron__.it(_pd_t1)] if b" in out


def test_class_body_statements_untouched_but_methods_lowered():
    out = t("def f():\n    class C:\n        x, y = 1, 2\n        def m(self):\n            self.a = 1\n")
    assert "x, y = (1, 2)" in out
    assert "__pydron__.setattr_(self, 'a', _pd_t1)" in out
