# Results unpacked into names (`m, s = stats(x)`) the way scientists write
# it: the unpacking of a result not computed yet is deferred, and each name
# is a placeholder for its item. Checked against plain Python: loops that
# collect, print, test and pass the items on; nested and list targets; items
# stored into lists, numpy arrays and attributes; one-item targets; wrong
# lengths and non-iterable results (the error where plain Python raises it,
# with the output before it and none after); a failing task before; strings,
# arrays, dicts and lists of arrays as results; an item the driver changes
# in place; `for` targets over lists of results.
import numpy as np

from pydron import functional, schedule


@functional
def stats(i):
    return float(i), float(-i)


@functional
def refine(m, s):
    return m - s


@functional
def sized(i, n):
    return tuple(range(i, i + n))


@functional
def nested(i):
    return (i, i + 1), [i * 2]


@functional
def text(i):
    return f"ab{i}"


@functional
def rows(i):
    return np.arange(4.0).reshape(2, 2) + i


@functional
def mapping(i):
    return {"a": i, "b": -i}


@functional
def with_array(i):
    return np.zeros(3) + i, i


@functional
def number(i):
    return i


@functional
def fails(i):
    raise RuntimeError(f"task {i} failed")


class Box:
    pass


@schedule
def collect(n):
    ms, ss = [], []
    for i in range(n):
        m, s = stats(i)
        ms.append(m)
        ss.append(s)
    return ms, ss


@schedule
def use_items(n):
    out = []
    for i in range(n):
        m, s = stats(i)
        print("item", i, m, s, m + s)
        if m > 1:
            out.append(refine(m, s))
        else:
            out.append(m * 10)
    return out


@schedule
def shapes(n):
    res = []
    for i in range(n):
        (a, b), [c] = nested(i)
        [x, y] = stats(i)
        (z,) = sized(i, 1)
        p, q, r = text(i)
        top, bottom = rows(i)
        res.append((a, b, c, x, y, z, p + q + r, top.tolist(), bottom.sum()))
    return res


@schedule
def into_stores(n):
    arr = np.zeros((n, 2))
    lst = [None] * n
    box = Box()
    for i in range(n):
        arr[i, 0], arr[i, 1] = stats(i)
        lst[i], box.last = stats(i)
    return arr.tolist(), lst, box.last


@schedule
def wrong_length(n, k):
    for i in range(n):
        a, b = sized(i, k if i == 2 else 2)
        print("unpacked", i, a, b)
    return "done"


@schedule
def not_iterable(n):
    for i in range(n):
        print("before", i)
        a, b = number(i) if i == 1 else stats(i)
        print("after", i, a, b)


@schedule
def failing_first(n):
    for i in range(n):
        print("loop", i)
        x = fails(i) if i == 1 else i
        a, b = stats(i)
        print("got", a, b, x)


@schedule
def not_deferred(n):
    out = []
    for i in range(n):
        a, b = mapping(i)   # a dict unpacks its keys
        arr, k = with_array(i)
        arr[0] = -1.0       # the driver changes an item in place
        first, _ = with_array(i)
        out.append((a, b, arr.tolist(), k, first.tolist()))
    return out


@schedule
def for_targets(n):
    pairs = [stats(i) for i in range(n)]
    total = 0.0
    for m, s in pairs:
        total += m - s
    for i, (m, s) in enumerate(pairs):
        print(i, m, s)
    return total


@schedule
def main():
    print(collect(5))
    print(use_items(4))
    print(shapes(3))
    print(into_stores(3))
    for k in (1, 3):
        try:
            print(wrong_length(4, k))
        except ValueError as e:
            print("caught", e)
    try:
        not_iterable(3)
    except TypeError as e:
        print("caught", e)
    try:
        failing_first(3)
    except RuntimeError as e:
        print("caught", e)
    print(not_deferred(2))
    print(for_targets(3))
    a, b = sized(0, 3)


if __name__ == "__main__":
    main()
