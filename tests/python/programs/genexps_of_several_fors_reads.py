# Generator expressions of several `for`s whose inner iterables are an
# attribute, a subscript or a slice of a name (`for s in img.sources`,
# `for v in table[k]`, `for y in row[i + 1:]`): the same values, output,
# exceptions and leftover state as plain Python - plain objects, properties
# and __getitem__ that print, dicts, lists, tuples, strings, numpy arrays,
# results of tasks, mutation between steps of a held generator, failures.
import numpy as np

from pydron import functional, schedule


@functional
def f(x, y):
    return x * 10 + y


@functional
def frames(n):
    return [Img(f"f{i}", list(range(i))) for i in range(n)]


@functional
def rows(n):
    return [list(range(k)) for k in range(n)]


class Img:
    def __init__(self, name, sources):
        self.name, self.sources = name, sources


class Loud:
    def __init__(self, n):
        self.n = n

    @property
    def sources(self):
        print("sources of", self.n)
        return list(range(self.n))

    def __getitem__(self, i):
        print("item", i, "of", self.n)
        return [i] * self.n


class Slotted:
    __slots__ = ("sources",)

    def __init__(self, sources):
        self.sources = sources


@schedule
def main():
    imgs = [Img("a", [1, 2]), Img("bb", [3]), Img("c", [])]
    print(sum(f(len(img.name), s) for img in imgs for s in img.sources))
    louds = [Loud(1), Loud(2)]
    print(sum(f(o.n, s) for o in louds for s in o.sources))
    print(sum(f(o.n, v) for o in louds for v in o[1]))
    tab = {0: [1, 2], 1: [3], 2: [4, 5, 6]}
    print(sum(f(k, v) for k in range(3) for v in tab[k]), sum(f(1, v) for k in "ab" for v in {"a": [1], "b": [2]}[k]))
    grid = [[1, 2, 3], [4, 5], [6]]
    print(sum(f(i, v) for i in range(3) for v in grid[i]), sum(f(i, v) for i in range(3) for v in grid[0][i:]))
    row = (1, 2, 3, 4)
    print(sum(f(i, v) for i in range(4) for v in row[i + 1:]), sum(f(i, v) for i in range(4) for v in row[::2]))
    print(sum(f(i, ord(c)) for i in range(3) for c in "abc"[i:]), sum(f(0, s) for o in [Slotted([4, 5])] for s in o.sources))
    arr, arr2 = np.arange(6), np.arange(6).reshape(2, 3)
    print(sum(f(i, int(v)) for i in range(3) for v in arr[i:i + 2]), sum(f(i, int(v)) for i in range(2) for v in arr2[i]))
    fr = frames(4)                                           # results of a task
    print(sum(f(len(img.name), s) for img in fr for s in img.sources))
    rs = rows(4)
    print(sum(f(i, v) for i in range(4) for v in rs[i]), sum(f(i, v) for i in range(4) for v in rs[3][i:]))
    print(any(f(img.sources[0], 0) > 20 for img in imgs[:2] for s in img.sources),
          all(f(k, v) < 30 for k in range(3) for v in tab[k]))
    h = (f(len(img.name), s) for img in imgs for s in img.sources)
    print(next(h))
    imgs[1].sources = [7, 8]                                 # before the loop reaches it
    print(list(h))
    h2 = (f(k, v) for k in range(3) for v in tab[k])
    print(next(h2), next(h2))
    tab[1] = [9]
    print(sorted(h2))
    for v in (f(i, v) for i in range(2) for v in grid[i][1:]):
        print("item", v)
    try:
        print(sum(f(len(img.name), s) for img in imgs + [object()] for s in img.sources))
    except AttributeError as e:
        print("caught", type(e).__name__)
    try:
        print(sum(f(k, v) for k in range(4) for v in tab[k]))
    except KeyError as e:
        print("caught KeyError", e)
    try:
        print(sum(f(i, v) for i in range(3) for v in row[i / 2:]))   # a float bound
    except TypeError as e:
        print("caught", e)
    print(sum(f(k, v) for k in range(3) for v in tab[k]))


if __name__ == "__main__":
    main()
