# A task's result is changed by the driver (a method, an item or attribute
# store, an alias), then given to another task: the task sees the change.
import numpy as np

from pydron import schedule, functional


class Box:
    def __init__(self, v):
        self.v = v

    def double(self):
        self.v *= 2


@functional
def mk(v):
    return Box(v)


@functional
def get(b):
    return b.v


@functional
def arr(n):
    return np.arange(n, dtype=float)


@functional
def total(a):
    return float(a.sum())


@functional
def items(n):
    return list(range(n))


@functional
def length(xs):
    return len(xs)


@schedule
def main():
    c = mk(3)
    alias = c
    c.double()
    print("method:", get(c), get(alias))
    b = mk(5)
    b.v = 7
    print("attribute:", get(b))
    a = arr(4)
    before = total(a)
    a[0] = 100.0
    print("item:", before, total(a))
    xs = items(3)
    xs.append(9)
    print("list:", length(xs))
    n = arr(2)
    n += 1
    print("inplace:", total(n))


if __name__ == "__main__":
    main()
