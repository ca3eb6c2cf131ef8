# Calls of one function chained per item (f(f(i)), time steps s = step(s)):
# the inner call is still in the batch the outer one joins, and the outer
# reads its result inside that batch. Log records come out once each, in
# program order; a failing call fails the calls that read it, and the first
# failure in program order is the one raised, whether an inner or an outer
# call failed. Arrays large enough to travel out of band go along too.
import logging

import numpy as np

from pydron import schedule, functional

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s",
                    stream=__import__("sys").stdout)
log = logging.getLogger("chain")


@functional
def inc(x):
    return x + 1


@functional
def step(state):
    k, hist = state
    hist = hist + [k]
    if k == 1234:
        log.info("step %d", k)
    return (k + 3, hist[-3:])


@functional
def grow(a):
    return a * 1.5 + 1


@functional
def risky(x):
    if x == 777:
        raise ValueError(f"bad {x}")
    return x * 2


@schedule
def main():
    out = [inc(inc(i)) for i in range(1500)]
    print(sum(out), out[:3], out[-1])
    states = []
    for i in range(400):
        s = (i, [])
        for _ in range(6):
            s = step(s)
        states.append(s)
    print(states[0], states[-1], sum(s[0] for s in states))
    first = step((1228, []))
    again = step(first)
    print(first, again)
    arrs = []
    for i in range(30):
        a = np.full(20000, float(i))  # 160 kB: out of band
        arrs.append(grow(grow(grow(a))))
    print(float(sum(a.sum() for a in arrs)), arrs[3][:2])
    for inner in (True, False):
        got = []
        try:
            for i in range(300, 900):
                if inner:  # risky(777) inside fails
                    got.append(risky(risky(i)))
                else:  # the outer call gets 777 (i = 389) and fails
                    got.append(risky(risky(i) - 1))
            print(sum(got))
        except ValueError as e:
            print("ValueError", e, len(got))
    print(sum(risky(risky(i)) for i in range(300)))


if __name__ == "__main__":
    main()
