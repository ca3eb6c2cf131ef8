# In-place operators (`acc += 1` on a numpy array, `s |= {x}`, `buf += b"x"`,
# `lst *= 2`, `d |= {...}`) run right after a @functional call whose task
# then fails, its exception caught: plain Python never ran them (the call
# raised first), so the object keeps what it held. Arrays, views, rows,
# arrays in lists, dicts, tuples and attributes, a nested function's `+=`,
# under `if` and in an inner loop; OrderedDict, Counter and defaultdict
# (deleted from, merged into: their order kept); the failing task's
# exception caught in the loop, around the loop, and by the caller of the
# @schedule function.
import collections

import numpy as np

from pydron import functional, schedule


@functional
def calib(x):
    if x % 3 == 2:
        raise ValueError("bad image %d" % x)
    return float(x)


class Box:
    pass


@schedule
def skip_bad():
    acc = np.zeros(3)
    grid = np.zeros((2, 3))
    whole = np.zeros(4)
    view = whole[1:3]
    ints = np.ones(2, dtype=np.int64)
    zero_d = np.zeros(())
    arrs = [np.zeros(2)]
    named = {"a": np.zeros(2)}
    pair = (np.zeros(2),)
    box = Box()
    box.a = np.zeros(2)
    seen = set()
    left = set(range(9))
    buf = bytearray()
    twice = [1]
    table = {}

    def bump(a):
        a += 1

    for i in range(7):
        try:
            v = calib(i)
            acc += 1
            grid[0] += 1
            grid[:, 1] -= 2
            view += 1
            ints <<= 1
            zero_d += 0.5
            arrs[0] += 1
            named["a"] += 2
            pair[0][:] += 1
            box.a += 1
            seen |= {i}
            left -= {i}
            buf += b"x"
            twice *= 2
            table |= {i: i}
            bump(acc)
            if i >= 0:
                acc /= 2
            for _ in range(2):
                acc -= 0.25
            print("ok", i, v)
        except ValueError as e:
            print("skip", e)
    print(acc, grid.tolist(), whole, ints, zero_d)
    print(arrs, named, pair, box.a)
    print(sorted(seen), sorted(left), bytes(buf), len(twice), table)


@schedule
def stop_at_first(images):
    total = np.zeros(2)
    flags = set()
    try:
        for i in images:
            v = calib(i)
            total += v
            total *= 1.5
            flags |= {i}
    except ValueError as e:
        print("stopped:", e)
    print(total, sorted(flags))


@schedule
def dict_kinds():
    ordered = collections.OrderedDict((f"k{i}", i) for i in range(8))
    merged = collections.OrderedDict(z=0)
    counts = collections.Counter(a=1)
    by_default = collections.defaultdict(int, q=1)
    for i in range(6):
        try:
            v = calib(i)
            del ordered[f"k{i}"]
            merged |= {f"m{i}": v}
            counts |= collections.Counter(b=i)
            by_default |= {i: i}
        except ValueError as e:
            print("skip", e)
    print(list(ordered.items()), list(merged.items()), dict(counts), dict(by_default))
    ordered["new"] = 1
    ordered.move_to_end("k2")
    merged.move_to_end("z")
    print(list(ordered), list(merged))


@schedule
def into_caller_array(acc, n):
    for i in range(n):
        v = calib(i)
        acc += 1
        acc[0] += v


skip_bad()
dict_kinds()
stop_at_first([0, 1, 3, 4, 5, 6])
stop_at_first([0, 1, 3, 4])
outer = np.zeros(2)
try:
    into_caller_array(outer, 5)
except ValueError as e:
    print("caller caught", e)
print(outer)
