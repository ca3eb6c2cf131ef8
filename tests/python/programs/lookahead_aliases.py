# Deferred reads that return views or items of a result, then changed by the
# driver: later tasks and reads see the change, as in sequential Python.
import time

import numpy as np

from pydron import schedule, functional


@functional
def grid(n):
    return np.arange(n * n, dtype=float).reshape(n, n)


@functional
def slow_grid(n, t):
    time.sleep(t)
    return np.ones((n, n))


@functional
def rows(n):
    return [[i, i + 1] for i in range(n)]


@functional
def total(a):
    return float(np.sum(a))


@functional
def flat(xs):
    return [v for row in xs for v in row]


@schedule
def main():
    for _ in range(3):
        g = grid(3)
        t = g.T
        print("t00", t[0, 0], g.shape)
        t += 1
        print("after view +=", total(g), g[0, 0])
        m = grid(2)
        col = m[:, 0]
        col[0] = 50.0
        print("after slice store", total(m))
        r = rows(2)
        first = r[0]
        print("first", first, len(r))
        first.append(9)
        print("after append", flat(r), r)
        h = grid(2)
        v = h.T
        print("h sum before", h.sum())
        v[0, 0] = 7.0
        print("h sum after", h.sum(), total(h))
        w = slow_grid(2, 0.05) * 2
        z = slow_grid(2, 0.5)
        print("w sum", w.sum(), z.sum())
        w[0, 0] = 100.0
        print("w after", w.sum())
        u = slow_grid(2, 0.05) * 2
        if u.shape[0] > 1:  # the driver waits for u here
            z = slow_grid(2, 0.5)
            print("u", u, z.sum())
            u += 1  # in place, while the print above has not run
            print("u after", u.sum())
        c = grid(2)
        d = c.copy()
        d[0, 0] = -1
        print("copy is separate", total(c), total(d))
    return "ok"


if __name__ == "__main__":
    print(main())
