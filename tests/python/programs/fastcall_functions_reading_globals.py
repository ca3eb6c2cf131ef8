# Many tiny calls of functions that read globals, as most real functions do
# (a module, a helper function, a constant, a table), while the @schedule
# body rebinds some of them and changes one in place between calls. The
# driver's C fast path reuses a function's pickled version only while every
# global it reads is the very object it was; each call must see the globals
# as of its own call, as sequential Python does.
import math

from pydron import functional, schedule

SCALE = 3
TABLE = [1, 2, 3]
OFFSET = 0.5


def helper(x):
    return x * SCALE


def other_helper(x):
    return -x * SCALE


@functional
def f(i):
    return helper(i) + int(math.sqrt(i))


@functional
def g(i):
    return i + TABLE[i % 3]


@functional
def r(i):
    return round(i * OFFSET, 3)


def make(k):
    @functional
    def h(i):
        return i * k + SCALE
    return h


h5 = make(5)
first_helper = helper


@schedule
def main(n):
    global SCALE, OFFSET, helper
    out = []
    for i in range(n):
        if i % 101 == 50:
            SCALE = SCALE + 1  # rebound: the next calls see the new value
        if i % 211 == 100:
            TABLE[0] = TABLE[0] + 10  # changed in place
        if i % 307 == 200:
            helper = other_helper if helper is first_helper else first_helper
            OFFSET = OFFSET * 3 if helper is first_helper else 0.25
        out.append(f(i))
        out.append(g(i))
        out.append(r(i))
        out.append(h5(i))
    return out


if __name__ == "__main__":
    import hashlib

    res = main(1500)
    print(len(res), len(set(res)), hashlib.sha256(repr(res).encode()).hexdigest())
    for j in range(0, len(res), 53):
        print(j, res[j])
    print(SCALE, TABLE, OFFSET, helper.__name__)
