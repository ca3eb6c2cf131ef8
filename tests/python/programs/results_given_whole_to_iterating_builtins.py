# A task's result given itself, not item by item, to what iterates it:
# `ids, fluxes = zip(*results)`, `enumerate(f(x))`, `map(str, f(x))`,
# `itertools.product(f(x), f(y))`, `chain(*results)`, in calls, loops,
# comprehensions and generator expressions, over results of every kind
# (list, tuple, dict, str, bytes, set, numpy array, a program's iterable
# class), and a failed task given the same way.
import itertools

import numpy as np

from pydron import functional, schedule


class Run:
    def __init__(self, n):
        self.items = list(range(n))

    def __iter__(self):
        return iter(self.items)


@functional
def measure(i):
    return (i, i * i % 7, i / 4)


@functional
def seq(i):
    return [i, i + 1, i + 2]


@functional
def kinds(i):
    return [(i, i + 1), {"a": i, "b": -i}, "xyz"[: i + 1], bytes([i, i + 1]), {i, i * 2},
            np.arange(3) * i, Run(i + 1)]


@functional
def sq(v):
    return v * v


@functional
def broken(i):
    if i == 2:
        raise ValueError(f"frame {i} is corrupt")
    return [i, i]


@schedule
def main():
    results = [measure(i) for i in range(5)]
    ids, codes, fluxes = zip(*results)
    print("unzipped", ids, codes, fluxes)
    print("zip list", list(zip(seq(1), "abc")), dict(zip("xyz", seq(3))))
    print("enumerate", list(enumerate(seq(2), start=seq(7)[0])))
    print("map", list(map(str, seq(4))), sum(map(abs, seq(-3))))
    print("filter", list(filter(None, seq(-1))))
    print("product", list(itertools.product(seq(1), seq(5)))[:4])
    print("chain", list(itertools.chain(*[seq(i) for i in range(3)])))
    print("islice", list(itertools.islice(seq(3), 2)), list(itertools.pairwise(seq(4))))
    print("starmap", list(itertools.starmap(pow, zip(seq(1), seq(0)))),
          list(itertools.starmap(divmod, [measure(3)[:2], seq(7)[:2]])))
    print("from_iterable", list(itertools.chain.from_iterable([seq(1), seq(5)])),
          list(itertools.chain.from_iterable(kinds(1)[:2])))
    for a, b, c in zip(*[seq(i) for i in range(3)]):
        print("row", a, b, c, sq(a))
    for i, v in enumerate(seq(2), start=1):
        print("enum", i, sq(v))
    for k, g in itertools.groupby(seq(1), key=lambda v: v % 2):
        print("group", k, list(g))
    print("comprehensions", [sq(a) + b for a, b in zip(seq(1), seq(4))],
          {k: sq(v) for k, v in zip("abc", seq(7))}, sum(sq(v) for v in map(int, seq(2))))
    it = zip(seq(1), seq(10))
    print("next zip", next(it), list(it))
    for k in range(3):
        for n, item in enumerate(kinds(k)):
            print("kind", k, n, type(item).__name__, list(zip(item, itertools.count())),
                  list(enumerate(item)), sorted(map(repr, item)))
    print("whole", list(zip(*kinds(2)[:4])), list(itertools.chain(*kinds(1)[:5])))
    try:
        print("never", list(zip(*[broken(i) for i in range(4)])))
    except ValueError as e:
        print("caught", e)
    try:
        for v in map(str, broken(2)):
            print("never", v)
    except ValueError as e:
        print("caught", e)
    pairs = [broken(i) for i in (0, 1, 3)]
    print("after", list(itertools.chain(*pairs)), list(enumerate(pairs[0])))
    print(list(zip(*[broken(i) for i in (1, 2)])))


if __name__ == "__main__":
    main()
