# -x, +x and ~x on results not computed yet are deferred like binary
# operators (the driver goes on adding tasks); output order, values and the
# first exception stay sequential, for numbers, arrays, a str (fails) and a
# class of the program whose __neg__ prints.
import numpy as np

from pydron import functional, schedule


@functional
def num(x):
    return x * 3


@functional
def arr(x):
    return np.arange(3) * x


@functional
def word(x):
    return "w%d" % x


@functional
def vec(x):
    return Vec(x)


class Vec:
    def __init__(self, v):
        self.v = v

    def __neg__(self):
        print("neg", self.v)
        return Vec(-self.v)

    def __repr__(self):
        return "Vec(%r)" % self.v


@schedule
def main():
    total = 0
    for i in range(6):
        a = num(i)
        total += -a
        print(i, -a, +a, ~a, -arr(i), ~arr(i))
    print("total", total)
    negs = [-num(i) for i in range(5)]
    print("list", negs, [-(-v) for v in negs])
    print("classes", [-vec(i) for i in range(3)])
    try:
        for i in range(4):
            w = word(i) if i == 2 else num(i)
            print("neg", i, -w)
    except TypeError as e:
        print("caught", e)
    return -num(7)


if __name__ == "__main__":
    print(main())
