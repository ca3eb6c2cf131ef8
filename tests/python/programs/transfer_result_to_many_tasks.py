"""One result of 500 KB-900 KB handed to six tasks together with driver arrays
of the same size, while the driver reads earlier results: fan-out of values
that go to the driver and between workers at the same time."""
import numpy as np

from pydron import functional, schedule


@functional
def make(n, i):
    return np.linspace(0.0, 1.0, n) * (i + 1)


@functional
def weigh(a, w):
    return a * w


@functional
def total(*parts):
    return float(sum(p.sum() for p in parts))


@schedule
def main():
    for n in (64_000, 112_000):
        weights = [np.full(n, k + 1.0) for k in range(6)]
        for i in range(5):
            x = make(n, i)
            parts = [weigh(x, w) for w in weights]
            print(n, i, round(total(*parts), 3), [round(float(p[n // 2]), 6) for p in parts])


if __name__ == "__main__":
    main()
