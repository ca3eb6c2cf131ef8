"""itertools objects made by translated code over iterators of the program
(islice, chain, zip_longest, pairwise): their sources are stepped through
iterators._guarded, so a loop over them need not wait at each step."""

import itertools as _itertools
import sys as _sys

from .iterators import _GeneratorType, _guarded, _wrapped
from .tables import _safe_iterable

_ITERTOOLS = {id(f): f for f in (_itertools.islice, _itertools.chain, _itertools.zip_longest,
                                  getattr(_itertools, "pairwise", _itertools.chain))}
_ITERABLE_ARGS = {id(_itertools.islice): 1, id(getattr(_itertools, "pairwise", None)): 1}


def _wrap_itertools(f, args, kwargs):
    """islice(gen, n), chain(gen, lst), zip_longest(...), pairwise(gen) in
    translated code, or None when an argument is not an iterable of known kind."""
    n = _ITERABLE_ARGS.get(id(f), len(args))  # how many leading arguments are iterables
    srcs = []
    for i, a in enumerate(args):
        if i >= n or _safe_iterable(a):
            srcs.append(a)
        elif type(a) is _GeneratorType:
            srcs.append(_guarded(a))
        else:
            return None  # a map (its consumer is unknown here) or an object of the program
    obj = f(*srcs, **kwargs)
    if len(_wrapped) > 4096:
        for k in [k for k, o in _wrapped.items() if _getrefcount(o) <= 3]:
            del _wrapped[k]
    _wrapped[id(obj)] = obj
    return obj


_getrefcount = _sys.getrefcount
