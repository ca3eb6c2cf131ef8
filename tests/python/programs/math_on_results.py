# math's functions, divmod, pow and complex applied to results not
# computed yet, in loops as a pipeline writes them: deferred like numpy's
# functions (the loop goes on adding tasks), and what the program sees stays
# sequential: values, output order, a domain error where it is raised.
import math

import numpy as np

from pydron import functional, schedule


@functional
def flux(i):
    return 2.0 * i + 0.5


@functional
def counts(i):
    return 7 * i + 3


@functional
def np_flux(i):
    return np.float64(i) * 1.5 + 1


@schedule
def main():
    mags, rows = [], []
    for i in range(8):
        f = flux(i)
        mags.append(-2.5 * math.log10(f))
        rows.append((math.sqrt(f), math.floor(f), math.isclose(f, 4.5), math.hypot(f, 3)))
        print("row", i, round(math.exp(-f), 6))
    print("mags", [round(m, 6) for m in mags])
    print("rows", rows)
    out = []
    for i in range(6):
        c = counts(i)
        out.append((divmod(c, 4), pow(c, 2), pow(c, 2, 5), complex(c, -1), math.gcd(c, 12),
                    math.factorial(i), math.comb(c, 2)))
    print("ints", out)
    print("numpy scalars", [math.sqrt(np_flux(i)) for i in range(4)],
          [math.trunc(np_flux(i)) for i in range(4)])
    # a domain error where the sequential program raises it, nothing after
    try:
        for i in range(6):
            v = math.sqrt(flux(i) - 5)
            print("sqrt", i, v)
    except ValueError as e:
        print("caught ValueError", e)
    try:
        logs = [math.log(counts(i) - 10) for i in range(4)]
        print("logs", logs)
    except ValueError as e:
        print("caught ValueError", e)
    try:
        for i in range(5):
            print("div", divmod(counts(i), i - 2))
    except ZeroDivisionError as e:
        print("caught ZeroDivisionError", e)
    # an argument that is not a number: TypeError, as in plain Python
    try:
        print(math.sqrt(str(flux(1))))
    except TypeError as e:
        print("caught TypeError", e)
    total = 0.0
    for i in range(10):
        total += math.sin(flux(i)) ** 2 + math.cos(flux(i)) ** 2
    print("identity", round(total, 9))
    return "done"


if __name__ == "__main__":
    print(main())
