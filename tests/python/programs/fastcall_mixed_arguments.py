# Many tiny calls whose arguments switch between what the driver's C fast
# path takes (scalars, small tuples/lists/dicts of them) and what it hands
# back to the Python path (placeholders, keyword arguments, a str holding
# "__main__", objects of __main__ classes, deep or long containers, numpy
# arrays), interleaved in one loop: every call gets its own arguments and
# result, in program order, whatever path it took.
import logging
import sys

import numpy as np

from pydron import functional, schedule

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stdout)
log = logging.getLogger("mixed")


class Point:
    def __init__(self, x):
        self.x = x


@functional
def f(a, b=0):
    if isinstance(a, Point):
        a = a.x
    if isinstance(a, np.ndarray):
        a = int(a.sum())
    if isinstance(a, (list, tuple)):
        a = len(a)
    if isinstance(a, dict):
        a = sum(a.values())
    if isinstance(a, str):
        a = len(a)
    if a == 777:
        log.info("seven hundred seventy seven")
    return a + b


@functional
def pair(i):
    return [i, -i]  # mutable: stays behind its placeholder


@schedule
def main(n):
    out = []
    for i in range(n):
        k = i % 9
        if k == 0:
            out.append(f(i))
        elif k == 1:
            out.append(f(out[-1]))  # a placeholder argument
        elif k == 2:
            out.append(f(i, b=2))
        elif k == 3:
            out.append(f("__main__" * (i % 3)))
        elif k == 4:
            out.append(f(Point(i)))
        elif k == 5:
            out.append(f((i, [i, i], {"a": i})))
        elif k == 6:
            out.append(f(list(range(i % 100))))
        elif k == 7:
            out.append(f(np.arange(i % 7)))
        else:
            out.append(f({"x": i, "y": 1.5}))
    p = [pair(i) for i in range(50)]
    p[3].append(99)  # the driver changes a result: later readers see it
    return sum(out), out[:12], p[3], p[49]


if __name__ == "__main__":
    print(main(3000))
    print(main(3000))
