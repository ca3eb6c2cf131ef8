# Statements that look at results (print, f-strings, methods, +=) inside a
# loop: deferred in program order, same output as sequential.
import sys

import numpy as np

from pydron import schedule, functional


@functional
def frame(i):
    return np.linspace(0.0, 1.0, 5) * (i + 1)


@functional
def label(i):
    return f"star-{i:03d}"


@functional
def count(i):
    return i * 3


@schedule
def main(n):
    total = 0
    width = 8
    names = []
    for i in range(n):
        f = frame(i)
        name = label(i)
        k = count(i)
        total += f.sum()
        print("frame", i, f.mean(), f.max(), name.upper(), k)
        print(f"{name}: mean={f.mean():.3f} max={f.max():{width}.2f} k={k!r:>4} {name=}")
        print("to stderr", i, float(f.min()), file=sys.stderr)
        print(i, round(f.std(), 4), len(name), sep=" | ", end=" ;\n")
        print(np.mean(f), np.sum(f) / 2, abs(k - 10), str(k), sep=",")
        total = total + f.sum() * 2 - k / 3
        print(f[1], f.shape, f.T[0], name[0], f[1:3].sum(), f.dtype, -f[2], k ** 2)
        names.append(name)
    print("total", total, "names", names)
    avg = total / n
    print(f"avg {avg:.4f}")
    return total


if __name__ == "__main__":
    print(main(12))
