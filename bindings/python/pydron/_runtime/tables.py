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

_SAFE_ITER = {
    list, tuple, dict, set, frozenset, str, bytes, bytearray, range,
    type({}.keys()), type({}.values()), type({}.items()),
    type(iter([])), type(reversed([])), type(iter(())), type(iter(range(1))),
    _Enumerate, _Zip,
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


