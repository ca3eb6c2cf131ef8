"""Results of ~960 KB (below the 1 MiB shared-memory threshold, above what a
socket buffer holds) read by the driver while the next tasks, which take such
a result plus a driver array of the same size, are sent to the same worker.
Both ends once wrote at the same time and neither read: a hang for good."""
import numpy as np

from pydron import functional, schedule


@functional
def make(n, i):
    return np.arange(n, dtype=np.float64) + i


@functional
def combine(a, b):
    return a + b


@schedule
def main():
    n = 120000
    d = np.ones(n)
    for i in range(40):
        x = make(n, i)
        c1 = combine(x, d)
        c2 = combine(x, d * 2)
        print(i, c1.sum(), c2.sum(), c1[-1])


if __name__ == "__main__":
    main()
