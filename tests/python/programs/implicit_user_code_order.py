# Properties, __getattr__, __setattr__, property setters and __hash__ of the
# program's own classes run code with effects: after a task that fails, they
# must not run (sequential code raised first); otherwise they run in order.
from pydron import schedule, functional


@functional
def value(x):
    if x < 0:
        raise ValueError(f"negative {x}")
    return x * 2


class Config:
    def __init__(self):
        self._n = 3

    @property
    def n(self):
        print("reading n")
        return self._n

    @n.setter
    def n(self, v):
        print("setting n", v)
        self._n = v

    def __getattr__(self, name):
        print("computing", name)
        return len(name)


class Logged:
    def __setattr__(self, name, v):
        print("set", name)
        object.__setattr__(self, name, v)


class Key:
    def __init__(self, k):
        self.k = k

    def __hash__(self):
        print("hashing", self.k)
        return hash(self.k)

    def __eq__(self, other):
        return isinstance(other, Key) and other.k == self.k


@schedule
def run(x):
    c = Config()
    lg = Logged()
    d = {}
    v = value(x)
    print("n is", c.n)
    w = value(x + 1)
    extra = c.missing
    c.n = 5
    u = value(x + 2)
    lg.attr = 1
    t = value(x + 3)
    d[Key("a")] = t
    return v, w, u, extra, c.n, len(d)


if __name__ == "__main__":
    print(run(1))
    for start in (-1, -2, -3, -4):
        try:
            print(run(start))
        except ValueError as e:
            print("failed:", e)
