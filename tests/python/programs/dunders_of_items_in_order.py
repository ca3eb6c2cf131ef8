# Formatting and comparing run the dunders of the program's classes, also
# for objects inside lists, tuples and dicts ("%s" % (obj,), f"{[obj]}",
# [a] == [b]): they must run after every earlier statement's output, as in
# sequential Python, while tasks are still pending.
from pydron import functional, schedule


@functional
def measure(i):
    return i * 1.5


class Loud:
    def __init__(self, tag):
        self.tag = tag

    def __repr__(self):
        print("repr of", self.tag)
        return f"Loud({self.tag})"

    def __format__(self, spec):
        print("format of", self.tag)
        return f"L{self.tag}"

    def __eq__(self, other):
        print("eq of", self.tag)
        return isinstance(other, Loud) and other.tag == self.tag

    __hash__ = None


@schedule
def main():
    a, b = Loud(1), Loud(2)
    print("warm", measure(0))
    x = measure(1)
    print("before percent", x)
    s1 = "%s and %r" % (a, b)
    x = measure(2)
    print("before list", x)
    s2 = f"{[a, b]}"
    x = measure(3)
    print("before dict", x)
    s3 = f"{ {'k': (1, a)} }"
    x = measure(4)
    print("before format", x)
    s4 = f"{a:>5}" + f"{b!r}"
    x = measure(5)
    print("before compare", x)
    same = [a, 1] == [Loud(1), 1]
    x = measure(6)
    print("before tuple compare", x)
    other = (b,) != (a,)
    print(s1, s2, s3, s4, same, other)
    xs = [measure(i) for i in range(3)]
    print("plain items", f"{xs}", "%s" % (xs,), xs == [0.0, 1.5, 3.0])


if __name__ == "__main__":
    main()
