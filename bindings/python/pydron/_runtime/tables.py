"""Type tables: which types and builtins run no code of the program."""

import collections
import dataclasses
import os
import pathlib
import re
import sys
import types

_FunctionType = types.FunctionType
_MethodType = types.MethodType
_BuiltinType = types.BuiltinFunctionType
_MISSING = dataclasses.MISSING
_getrefcount = sys.getrefcount
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
# pathlib's own path types (not subclasses): immutable, and their operators,
# hashing, comparisons, formatting and properties run pathlib's code only
_PATH_TYPES = {pathlib.PurePosixPath, pathlib.PosixPath, pathlib.PureWindowsPath,
               pathlib.WindowsPath}
_SCALARS = {int, float, complex, bool, str, bytes, type(None), type(Ellipsis), slice,
            *_PATH_TYPES}
_OPERAND_TYPES |= _PATH_TYPES
# Functions of paths that look at no file and have no effect: os.path's
# string functions, pathlib's pure methods and constructors (calls._h_path)
_PATH_FUNCS = {id(f): f for f in (
    *(getattr(os.path, n) for n in ("join", "basename", "dirname", "splitext", "split",
                                    "normpath", "normcase", "isabs", "splitdrive",
                                    "commonpath", "commonprefix")),
    os.fspath, pathlib.Path, pathlib.PurePath, *_PATH_TYPES,
    # names parsed with re: its functions of strings (not a function as
    # sub's replacement: not a string, so it waits), a match's groups
    *(getattr(re, n) for n in ("match", "search", "fullmatch", "sub", "subn", "split",
                               "findall", "compile", "escape")))}
# the arguments they take without running code of the program
_PATH_ARGS = {str, bytes, int, bool, type(None), re.Pattern, re.RegexFlag, *_PATH_TYPES}
# C types whose methods have no effect and run no code of the program
_PURE_METHOD_TYPES = {re.Pattern, re.Match}
_PATH_METHODS = frozenset("""
    with_suffix with_name with_stem joinpath relative_to is_relative_to as_posix is_absolute
    match is_reserved __truediv__ __rtruediv__ __str__ __fspath__
""".split())


def _safe_iterable(v):
    t = type(v)
    return t in _SAFE_ITER or (t.__name__ == "ndarray" and t.__module__ == "numpy")


# The iterators among them: stepping one ahead of the program moves it.
_SAFE_ITERATORS = {t for t in _SAFE_ITER if getattr(t, "__next__", None) is not None}


def _rc_probe(v):
    return _getrefcount(v)


def _rc_base():
    """What sys.getrefcount reports, in a function, for an object only its
    parameter holds (its caller's temporary moved in), or None if this
    interpreter does not count references that way (held ones count one
    more): then every iterator counts as held."""
    base = _rc_probe(object())
    held = object()
    return base if _rc_probe(held) == base + 1 else None


def _held(v, mine):
    """Does anyone hold v but the caller (mine: its own references to it)?"""
    return _RC_BASE is None or _getrefcount(v) - mine > _RC_BASE


def _unseen(v, mine):
    """Can the program not see it when v is stepped ahead of it? A container:
    yes (each loop over it makes an iterator of its own). An iterator: only
    when no one holds it but the caller (`mine`: the caller's own references
    to it: its locals, its tuples), nor the iterators an enumerate or zip of
    them steps (`enumerate(it)` where the program holds `it`). Stepping a held
    iterator ahead would leave it further on than the sequential program
    does where the consumer stops early (raises, short-circuits)."""
    t = type(v)
    if t not in _SAFE_ITERATORS:
        return True
    if _held(v, mine + 1):   # (+1: our parameter)
        return False
    if t is _Enumerate or t is _Zip:
        # enumerate: a new tuple (it, count), and v holds it: two references;
        # zip: the tuple of its iterators itself, one
        inner = v.__reduce__()[1]
        if t is _Enumerate:
            return _unseen(inner[0], 2)
        for k in range(len(inner)):
            if not _unseen(inner[k], 1):
                return False
    return True


def _numpy_type(t):
    return t.__module__ == "numpy"


_RC_BASE = _rc_base()
