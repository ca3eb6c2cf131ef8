"""Values of 300 KB-900 KB made on different workers and combined (one moves
from worker to worker), with a driver array of the same size, while the
driver reads earlier results and the next tasks are sent out."""
import numpy as np

from pydron import functional, schedule


@functional
def make(n, i):
    return np.arange(n, dtype=np.float64) * (i + 1)


@functional
def combine(a, b, c):
    return a * 0.5 + b - c


@schedule
def main():
    for n in (40_000, 110_000):
        d = np.linspace(-1.0, 1.0, n)
        prev = make(n, 0)
        for k in range(30):
            x = make(n, k)
            y = make(n, k + 100)
            prev = combine(prev, x, d)
            other = combine(y, x, d)
            print(n, k, prev.sum(), other.sum(), prev[7], other[-7])


if __name__ == "__main__":
    main()
