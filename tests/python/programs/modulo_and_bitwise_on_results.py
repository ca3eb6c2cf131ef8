# `%` (remainder and printf-style formatting) and the bitwise operators on
# task results, deferred where the operands are numbers, strings and numpy
# values: the values, the exceptions (TypeError of a format, ZeroDivisionError,
# a negative shift) and the output of the program's own __mod__/__str__ come
# as in plain Python.
import numpy as np

from pydron import functional, schedule


@functional
def num(x):
    return x * 7 - 3


@functional
def flt(x):
    return x * 1.25 - 0.5


@functional
def text(x):
    return "t%d" % x


@functional
def arr(x):
    return np.arange(6) * x


@functional
def items(x):
    return {x, x + 1}


class Loud:
    def __init__(self, v):
        self.v = v

    def __mod__(self, other):
        print("Loud mod", self.v, other)
        return self.v % other

    def __rmod__(self, other):
        print("Loud rmod", self.v)
        return other % self.v

    def __and__(self, other):
        print("Loud and", self.v)
        return self.v & other

    def __str__(self):
        print("Loud str", self.v)
        return "L%d" % self.v


@functional
def loud(x):
    return Loud(x)


@schedule
def main():
    rows = []
    for x in range(-2, 4):
        n, f = num(x), flt(x)
        rows.append((n % 5, n % -3, f % 2, -7 % n if n else None, "%+06.2f" % f, "%x" % (n & 0xFF),
                     "%s|%r" % (text(x), text(x)), n & 6, n | 8, n ^ 5, (n & 0xF) << 3,
                     (n & 0xFF) >> 2))
    for r in rows:
        print(r)
    print("%(a)s and %(b).1f" % {"a": text(1), "b": flt(2)})
    print(b"%d bytes" % num(2), "%c" % (num(10) + 10))
    a = arr(3)
    print(a % 4, a & 5, a | 1, a ^ 2, a << 1, a >> 1, "%s" % a)
    print(items(1) | items(5), items(1) & items(2), items(1) ^ items(2))
    print({"k": 1} | {"v": num(1)})
    for bad in range(3):
        try:
            if bad == 0:
                print(num(1) % (num(0) - num(0)))
            elif bad == 1:
                print("%d %d" % num(2))
            else:
                print(num(1) >> (num(0) - 4))
        except (ZeroDivisionError, TypeError, ValueError) as e:
            print(type(e).__name__, e)
    for x in range(2):
        lo = loud(x + 3)
        print(lo % 2, 10 % lo, lo & 1, "%s" % lo, "%s" % (lo,))
    print("%s" % [num(1), text(2)], "%s" % (num(1), text(2)).__class__.__name__)


if __name__ == "__main__":
    main()
