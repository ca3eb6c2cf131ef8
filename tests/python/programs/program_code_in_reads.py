# Reads that run code of the program - a property, __getattr__, a class's
# __getitem__, and the other dunders (stores, `in`, formats, truth, `with`,
# `+=`, iteration) - right after a statement whose output waits for its tasks:
# their prints come after it, as in plain Python. In generator expressions
# given to builtins (with a lazy twin, whose step stops there, and without),
# loops over them, lambdas, eager try blocks and the body itself (subscripts
# and slices), on placeholders too; failures raised where plain Python
# raises them.
from pydron import functional, schedule


@functional
def f(x, y):
    return x * 10 + y


@functional
def make(n):
    return list(range(n))


class Loud:
    def __init__(self, n):
        self.n = n

    @property
    def sources(self):
        print("sources of", self.n)
        return list(range(self.n))

    def __getitem__(self, i):
        print("item", i, "of", self.n)
        if i > 5:
            raise IndexError(f"no item {i} in {self.n}")
        return i * self.n


class Sliced:
    def __getitem__(self, k):
        print("slice", k.start, k.stop)
        return list(range(k.start, k.stop))


class Box:
    """Every other dunder the program may give a class, each printing."""

    def __init__(self):
        self._v = 0

    def __setitem__(self, k, v):
        print("set", k, v)

    def __delitem__(self, k):
        print("del", k)

    def __contains__(self, k):
        print("contains", k)
        return True

    def __format__(self, spec):
        print("format", spec)
        return "box"

    def __bool__(self):
        print("bool")
        return True

    def __iter__(self):
        print("iter")
        return iter([1, 2])

    def __len__(self):
        print("len")
        return 2

    @property
    def v(self):
        return self._v

    @v.setter
    def v(self, x):
        print("setter", x)
        self._v = x

    def __enter__(self):
        print("enter")
        return self

    def __exit__(self, *a):
        print("exit")

    def __iadd__(self, o):
        print("iadd", o)
        return self


class Lazy:
    """Attributes made on first read (__getattr__), as lazy loaders do."""

    def __getattr__(self, name):
        print("loading", name)
        if name == "missing":
            raise AttributeError(name)
        return [len(name), 1]


@schedule
def main():
    louds, lazy = [Loud(1), Loud(2)], Lazy()
    print(sum(f(x, 1) for x in range(3)))
    print(sum(f(len(o.sources), 1) for o in louds))          # twin stops at the property
    print(sum(f(x, 2) for x in range(3)))
    for v in (f(len(o.sources), 2) for o in louds):          # a loop over it
        print("loop", v)
    print(sum(f(x, 3) for x in range(3)))
    for v in (len(o.sources) for o in louds):                # no task in it
        print("plain loop", v)
    print(sum(f(x, 4) for x in range(3)))
    print(max(f(o[1], 1) for o in louds), list(f(len(o.sources), 3) for o in louds))
    print(sum(f(x, 5) for x in range(3)))
    print(louds[0][2])                                        # the body's own subscript
    print(sum(f(x, 6) for x in range(3)))
    v = louds[1][3]
    print(v, sum(f(x, 7) for x in range(3)))
    print(sum(f(x, 13) for x in range(3)))
    print(Sliced()[1:3])                                      # a slice, in the body
    print(sum(f(x, 14) for x in range(3)), sum(f(len(s), 1) for s in [Sliced()[0:2]]))
    print(sum(f(x, y) for x in lazy.values for y in [1]))    # __getattr__
    print(sum(f(x, 8) for x in range(3)))
    get = lambda o: o.sources                                 # noqa: E731  (a lambda: eager)
    print(sum(f(len(get(o)), 4) for o in louds))
    print(sum(f(x, 9) for x in range(3)))
    try:
        print(louds[1].sources, sum(f(len(o.sources), 5) for o in louds))
    except ValueError:
        pass
    parts = make(3)                                           # a placeholder
    print(sum(f(x, 10) for x in range(3)), sum(f(p, louds[0][p]) for p in parts))
    print(sum(f(x, 11) for x in range(3)))
    try:
        print(sum(f(o[i], 1) for o in louds for i in [1, 9]))
    except IndexError as e:
        print("caught", e)
    print(sum(f(x, 12) for x in range(3)))
    try:
        print(sum(f(len(x), 1) for x in [lazy.values, lazy.missing]))
    except AttributeError as e:
        print("caught AttributeError", e)
    b = Box()
    print(sum(f(x, 15) for x in range(3)))
    b[1] = 2
    print(sum(f(x, 16) for x in range(3)))
    del b[1]
    print(sum(f(x, 17) for x in range(3)))
    print(3 in b)
    print(sum(f(x, 18) for x in range(3)))
    print(f"{b:x}")
    print(sum(f(x, 19) for x in range(3)))
    if b:
        print("yes")
    print(sum(f(x, 20) for x in range(3)))
    b.v = 5
    print(sum(f(x, 21) for x in range(3)))
    with b:
        print("in with")
    print(sum(f(x, 22) for x in range(3)))
    b += 1
    print(sum(f(x, 23) for x in range(3)))
    print(list(b), sorted(b), len(b))
    print(sum(f(x, 24) for x in range(3)))
    print([f(v, 1) for v in b], sum(f(v, 1) for v in b))
    print(sum(f(x, 25) for x in range(3)))
    print(any(f(x, 1) > 100 for x in range(3) if x in b), sum(f(x, 1) for x in range(2) if b))


if __name__ == "__main__":
    main()
