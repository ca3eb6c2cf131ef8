"""Type tables: which types and builtins run no code of the program."""

import collections
import dataclasses
import types

_FunctionType = types.FunctionType
_MethodType = types.MethodType
_BuiltinType = types.BuiltinFunctionType
_MISSING = dataclasses.MISSING
# dict types whose item stores and methods run no user code
_DICTS = {dict, collections.defaultdict, collections.OrderedDict, collections.Counter}


class _Enumerate(enumerate):
    """enumerate over a safe iterable: iterating it runs no user code."""


class _Zip(zip):
    """zip over safe iterables."""


for _cls, _like in ((_Enumerate, enumerate), (_Zip, zip)):
    _cls.__name__ = _cls.__qualname__ = _like.__name__  # what the program sees
    _cls.__module__ = "builtins"

class _KeySource:
    """The source of a key function's generator expression (genexps.keyed):
    made empty when the expression is, given the consumer's items later."""

    __slots__ = ("items", "i")

    def __init__(self):
        self.items = ()
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        i = self.i
        if i >= len(self.items):
            raise StopIteration
        self.i = i + 1
        return self.items[i]


_SAFE_ITER = {
    list, tuple, dict, set, frozenset, str, bytes, bytearray, range,
    type({}.keys()), type({}.values()), type({}.items()),
    type(iter([])), type(reversed([])), type(iter(())), type(iter(range(1))),
    _Enumerate, _Zip, _KeySource,
}
_OPERAND_TYPES = {int, float, complex, bool, str, bytes, bytearray, type(None), list, tuple, dict,
                  set, frozenset, range, slice, type, type({}.keys()), type({}.values()),
                  type({}.items()), type(Ellipsis), types.FunctionType, types.BuiltinFunctionType,
                  types.MethodType, collections.defaultdict, collections.OrderedDict,
                  collections.Counter}
_IMMUTABLE = {str, bytes, int, float, complex, bool, tuple, frozenset, range}
_SCALARS = {int, float, complex, bool, str, bytes, type(None), type(Ellipsis), slice}


def _safe_iterable(v):
    t = type(v)
    return t in _SAFE_ITER or (t.__name__ == "ndarray" and t.__module__ == "numpy")


def _numpy_type(t):
    return t.__module__ == "numpy"


