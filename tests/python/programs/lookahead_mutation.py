# Deferred reads of a result, then the driver changes the result: each read
# sees the value at its point in the program.
import numpy as np

from pydron import schedule, functional


@functional
def arr(n):
    return np.arange(n, dtype=float)


@functional
def total(a):
    return float(a.sum())


class Noisy:
    def __init__(self, v):
        self.v = v

    def mean(self):
        print("Noisy.mean called", self.v)
        return self.v


@functional
def noisy(v):
    return Noisy(v)


@schedule
def main():
    for _ in range(3):
        a = arr(4)
        b = a
        print("sum before", a.sum(), f"{a.max():.1f}")
        a[0] = 100.0
        print("sum after", a.sum(), total(b))
        x = arr(3)
        y = x
        x += 1
        print("inplace", x.sum(), total(y), total(x))
        lst = [1, 2]
        print("list", lst, a.mean())
        lst.append(3)
        print("list", lst)
        n = noisy(2)
        print("noisy", n.mean())
        print("after noisy")
    return "done"


if __name__ == "__main__":
    print(main())
