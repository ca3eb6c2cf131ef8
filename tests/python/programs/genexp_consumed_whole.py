# Generator expressions handed to a builtin that consumes them whole (sum,
# min, max, sorted, list, tuple, set, frozenset, dict, str.join, any, all):
# the calls are submitted ahead (a lazy twin of the expression), and what
# the program sees stays sequential: values, output order, which exception,
# and the state the generator is left in.
import numpy as np

from pydron import functional, schedule


@functional
def sq(x):
    return x * x


@functional
def half(x):
    return x / 2


@functional
def vec(x):
    return np.arange(3.0) * x


@functional
def pair(x):
    return (x, -x)


@functional
def word(x):
    return "w%d" % x


@functional
def fails_at(x, bad):
    if x == bad:
        raise ValueError("task %d failed" % x)
    return x + 1


class Loud:
    def __init__(self, v):
        self.v = v

    def __add__(self, other):
        print("Loud add", self.v, other)
        return Loud(self.v + (other.v if isinstance(other, Loud) else other))

    __radd__ = __add__

    def __lt__(self, other):
        print("Loud lt", self.v, other.v)
        return self.v < other.v

    def __repr__(self):
        return "Loud(%r)" % self.v


def shout(x):
    print("shout", x)
    return x


@schedule
def main():
    xs = list(range(12))
    print("sum", sum(sq(x) for x in xs))
    print("sum start", sum((sq(x) for x in xs), 100))
    print("float sum", sum(half(x) for x in xs))
    print("min max", min(sq(x) - 10 * x for x in xs), max(sq(x) for x in xs if x % 3))
    print("max default", max((sq(x) for x in xs if x > 99), default=-1))
    print("sorted", sorted(-sq(x) for x in xs[:5]), sorted((sq(x) for x in xs[:5]), reverse=True))
    print("list tuple", list(sq(x) for x in range(4)), tuple(half(x) for x in range(4)))
    print("set", sorted(set(sq(x) % 5 for x in xs)), sorted(frozenset(sq(x) % 3 for x in xs)))
    print("dict", dict(pair(x) for x in range(4)))
    print("join", "-".join(word(x) for x in range(5)), b",".join(word(x).encode() for x in range(3)))
    try:
        print("".join(word(x) if x != 2 else 7 for x in range(5)))
    except TypeError as e:
        print("caught TypeError", e)
    try:
        print("".join(word(fails_at(x, 3)) for x in range(6)))
    except ValueError as e:
        print("caught", e)
    print("f-string", sum(len(f"{sq(x):04d}") for x in xs))
    print("numpy", sum(vec(x) for x in range(5)), sum(vec(x).sum() for x in range(5)))
    print("numpy method", max(vec(x).mean() for x in range(5)))
    print("enumerate", sum(i * sq(v) for i, v in enumerate([3, 1, 4, 1, 5])))
    print("zip", min(sq(a) + b for a, b in zip(range(5), [9, 2, 7, 1, 8])))
    print("tuple target", sum(sq(a) - b for a, b in [(1, 2), (3, 4), (5, 6)]))
    print("conditional", sum(sq(x) if x % 2 else -x for x in xs))
    print("any all", any(sq(x) > 50 for x in xs), all(sq(x) >= 0 for x in xs))
    print("counted", sum(sq(x) > 20 for x in xs), sum(word(x) == "w3" for x in xs),
          list(vec(x) > 1 for x in range(3)), sum((vec(x) >= 2).sum() for x in range(4)),
          sum(1 if sq(x) != 4 else 100 for x in range(5)))
    try:
        print(sum(sq(x) < 3 if x != 2 else word(x) < 3 for x in xs))
    except TypeError as e:
        print("caught TypeError", e)
    ys = [sq(x) for x in range(6)]  # placeholders as the source
    print("over placeholders", sum(half(y) for y in ys), max(y + 1 for y in ys))

    # a result that fails: the exception of the first failing item, after
    # the consumer has taken the ones before it
    try:
        print(sum(fails_at(x, 7) for x in xs))
    except ValueError as e:
        print("caught", e)
    # the consumer fails at an item: later items' effects never happen
    try:
        print(sum(shout(sq(v)) if v != "a" else v for v in [1, 2, "a", 3, 4]))
    except TypeError as e:
        print("caught TypeError", e)
    try:
        print(sum(sq(v) + 1 for v in [1, 2, "a", 3]))
    except TypeError as e:
        print("caught TypeError", e)
    try:
        print(max(1 / half(x) for x in [4, 2, 0, 8]))
    except ZeroDivisionError as e:
        print("caught ZeroDivisionError", e)
    try:
        print(set([sq(1)] if x == 2 else sq(x) for x in range(5)))
    except TypeError as e:
        print("caught TypeError", e)
    # effects in the expression run in order with the consumer's own
    print("loud sum", sum(Loud(sq(x)) for x in range(4)))
    print("loud min", min(Loud(sq(x) - 3 * x) for x in range(4)))
    print("print in items", sum(print("item", x) or sq(x) for x in range(4)))
    objs = np.array([Loud(1), Loud(2)], dtype=object)  # its items' dunders print
    try:
        print(sum((objs + sq(x)).sum() if x != 2 else "s" for x in range(4)))
    except TypeError as e:
        print("caught TypeError", e)
    print("plain function", sum(shout(sq(x)) for x in range(4)))

    # the generator is left as the sequential program leaves it
    gen = (sq(x) for x in range(5))
    print("consumed", sum(gen), list(gen))
    it = iter(range(10))
    print("shared iterator", sum(sq(x) for x in it if x < 6), list(it))
    gen = (sq(x) for x in range(5))
    print("next first", next(gen), sum(gen))
    # a source that runs code of the program: one item at a time
    def numbers(n):
        for i in range(n):
            print("producing", i)
            yield i
    print("user generator", sum(sq(x) for x in numbers(3)))
    # inside try, with, a nested function and a lambda
    try:
        total = sum(sq(x) for x in xs)
    finally:
        print("finally", total)

    def inner(k):
        return max(sq(x) * k for x in xs)
    print("nested", inner(2), (lambda k: min(sq(x) + k for x in xs))(5))
    # two in one statement, one inside the other's source
    print("two", sum(sq(x) for x in range(sum(sq(y) for y in range(3)))))
    return "done"


if __name__ == "__main__":
    print(main())
