# Methods, properties, static/class methods with defaults, a nested generator
# and a nonlocal counter made in a @schedule body: values everywhere, during the
# call and after it returned.
from pydron import schedule, functional


@functional
def sq(x):
    return x * x


@schedule
def main():
    v = sq(3)

    def gen():
        yield v
        yield [v]

    class P:
        scale = v

        def __init__(self):
            self._x = v

        @property
        def x(self):
            return self._x

        @x.setter
        def x(self, val):
            self._x = val + v

        @staticmethod
        def s(a=v):
            return a

        @classmethod
        def c(cls, k=[v]):
            return cls.scale, k

    p = P()
    p.x = 1
    print(p.x, P.s(), P.c(), list(gen()), P.s.__defaults__)
    ks = lambda *, k=sq(2): k
    print(ks(), ks.__kwdefaults__)

    def counter():
        total = sq(1)

        def add(n):
            nonlocal total
            total = total + n
            return total
        return add

    add = counter()
    print(add(1))
    return p, gen, ks, add


if __name__ == "__main__":
    p, gen, ks, add = main()
    print(p.x, p.s(), p.c(), list(gen()), ks(), add(2), ks.__kwdefaults__, type(p).scale)
