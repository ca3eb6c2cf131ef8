from pydron._translate.mangle import class_of, mangle
from _passes import fdef
import ast


def test_class_of_qualname():
    assert class_of("C.m") == "C"
    assert class_of("f.<locals>.g") is None
    assert class_of("f") is None


def test_private_names_mangled_like_the_compiler():
    node = fdef("def m(self):\n    self.__x = __y\n    return self.__dunder__\n")
    mangle(node, "_Cls.m")
    out = ast.unparse(node)
    assert "self._Cls__x = _Cls__y" in out
    assert "self.__dunder__" in out


def test_schedule_method_with_private_attribute():
    from pydron import functional, schedule

    @functional
    def double(x):
        return 2 * x

    class Acc:
        def __init__(self):
            self.__total = 0

        @schedule
        def add(self, v):
            self.__total += double(v)
            return self.__total

    a = Acc()
    a.add(1)
    assert a.add(2) == 6
    assert a._Acc__total == 6
