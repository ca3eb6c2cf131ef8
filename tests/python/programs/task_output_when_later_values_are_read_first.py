# The program reads a later task's value before an earlier task's (the
# earlier one is deferred, or only stored; the later one is tested in an `if`,
# formatted, put in a list and printed): what the tasks print, log and warn
# must still come in the order they were called, as in plain Python.
import logging
import time
import warnings

from pydron import functional, schedule


@functional
def slow(x):
    time.sleep(0.2)
    print("slow", x)
    return x * 1.5


@functional
def fast(x):
    print("fast", x)
    return x + 1


@functional
def logs(x):
    logging.getLogger("prog").warning("logs %d", x)
    return x


@functional
def warns(x):
    warnings.warn("warns %d" % x)
    return x


@functional
def fails_loud(x):
    print("about to fail", x)
    raise ValueError("failed %d" % x)


@schedule
def main():
    logging.basicConfig(format="%(levelname)s %(name)s %(message)s")
    a = slow(1) * 2            # deferred: nothing waits for it
    b = fast(2)
    if b > 2:                   # the later value is read first
        print("b is", b)
    print("a is", a)
    c = slow(3)
    d = str([fast(4)])          # read at once
    print(d, c)
    e = slow(5) + 1
    f = "%d" % fast(6)
    g = logs(7)
    print(f, e, g)
    h = slow(8) * 1
    i = warns(9)
    if i:
        print("warned")
    print(h)
    total = 0
    for k in range(4):
        total = total + slow(10 + k)
        if fast(20 + k) > 21:
            print("over", k)
    print("total", total)
    m = slow(30) * 2
    try:
        if fails_loud(31):
            print("not reached")
    except ValueError as err:
        print("caught", err)
    print("m", m)


if __name__ == "__main__":
    main()
