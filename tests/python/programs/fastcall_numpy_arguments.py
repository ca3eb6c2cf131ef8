# @functional calls whose arguments are numpy arrays and scalars, in loops
# long enough for the driver's C fast path to batch them: small arrays of
# many dtypes (structured, datetime, complex, bool), views and
# non-contiguous slices, an array changed in place between calls (each
# call sees it as of the call), object arrays, masked arrays, a subclass,
# an array just under and over the size that travels as a graph constant,
# and numpy scalars. Each gives what sequential Python gives.
import hashlib

import numpy as np

from pydron import functional, schedule


@functional
def digest(a, i):
    a = np.asarray(a) if not isinstance(a, np.ndarray) else a
    h = hashlib.sha256(repr((type(a).__name__, a.dtype.str, a.shape)).encode())
    if a.dtype.hasobject:
        h.update(repr(a.tolist()).encode())
    else:
        h.update(np.ascontiguousarray(a).tobytes())
    return f"{i}:{h.hexdigest()[:12]}"


@functional
def scalar(x, i):
    return f"{type(x).__name__}:{x!r}:{i}"


class Tagged(np.ndarray):
    pass


@schedule
def arrays(n):
    out = []
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    rec = np.zeros(3, dtype=[("a", "i4"), ("b", "f8"), ("c", "U3")])
    days = np.arange("2026-01-01", "2026-01-08", dtype="datetime64[D]")
    objs = np.array([1, "x", None], dtype=object)
    masked = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    tagged = np.arange(5).view(Tagged)
    just_under = np.ones(64 * 1024 // 8 - 1)
    over = np.ones(64 * 1024 // 8 + 1)
    for i in range(n):
        base[i % 4, i % 6] += 1  # changed between calls: each sees its own
        out.append(digest(base, i))
        out.append(digest(base[:, ::2], i))  # a non-contiguous view
        out.append(digest(base.T, i))
        out.append(digest(rec, i))
        out.append(digest(days, i))
        out.append(digest(np.array([1 + 2j, i]), i))
        out.append(digest(np.array([True, i % 2 == 0]), i))
        if i % 10 == 0:
            out.append(digest(objs, i))
            out.append(digest(masked, i))
            out.append(digest(tagged, i))
            just_under[i % 100] = i
            out.append(digest(just_under, i))
            over[i % 100] = i
            out.append(digest(over, i))
    return out


@schedule
def scalars(n):
    out = []
    for i in range(n):
        out.append(scalar(np.float64(i) / 3, i))
        out.append(scalar(np.int8(i % 100), i))
        out.append(scalar(np.bool_(i % 2), i))
        out.append(scalar(np.datetime64("2026-01-01") + i, i))
    return out


if __name__ == "__main__":
    res = arrays(150)
    print(len(res), hashlib.sha256("\n".join(res).encode()).hexdigest())
    for j in range(0, len(res), 211):
        print(res[j])
    res = scalars(200)
    print(len(res), res[:4], res[-4:])
