from pydron import schedule, functional

import math

# The program's state a task reads, changed between calls to a value equal
# to the old one (==) that is still another value: 0.0 and -0.0, complex
# zeros with signed parts, 1 and 1.0 and True, tuples of those, an empty
# list and an empty set. Each task must see the value as of its call.

X = 0.0
Z = complex(0.0, 0.0)
N = 1
T = (0.0, 1)
E = []


def sign(v):
    return math.copysign(1.0, v)


class Gain:
    factor = 0.0

    def __init__(self, k):
        self.k = k

    def apply(self):
        return sign(self.factor), self.k


def make_cell():
    box = 0.0

    @functional
    def cell_task():
        return sign(box)

    def set_box(v):
        nonlocal box
        box = v
    return cell_task, set_box


CELL_TASK, SET_BOX = make_cell()


@functional
def read_globals():
    return (sign(X), sign(Z.real), sign(Z.imag), repr(N), type(N).__name__,
            [sign(t) if isinstance(t, float) else repr(t) for t in T], type(E).__name__)


def signs(d=(0.0, 0.0)):
    return [sign(v) for v in d]


@functional
def with_default(x):
    return x, signs()


@functional
def via_instance(g):
    return g.apply()


@schedule
def main():
    global X, Z, N, T, E
    out = [read_globals(), CELL_TASK(), with_default(1), via_instance(Gain(1))]
    # one change at a time, each to a value == the old one
    X = -0.0
    out.append(read_globals())
    Z = complex(0.0, -0.0)
    out.append(read_globals())
    Z = complex(-0.0, -0.0)
    out.append(read_globals())
    N = 1.0
    out.append(read_globals())
    N = True
    out.append(read_globals())
    T = (-0.0, 1)
    out.append(read_globals())
    T = (-0.0, 1.0)
    out.append(read_globals())
    E = set()
    out.append(read_globals())
    SET_BOX(-0.0)
    out.append(CELL_TASK())
    signs.__defaults__ = ((-0.0, 0.0),)
    out.append(with_default(2))
    Gain.factor = -0.0
    out.append(via_instance(Gain(2)))
    X = 0.0
    Gain.factor = 0.0
    out += [read_globals(), via_instance(Gain(3))]
    return out


if __name__ == "__main__":
    for row in main():
        print(row)
