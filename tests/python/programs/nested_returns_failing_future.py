from pydron import schedule, functional

import time

@functional
def sq(x):
    return x * x

@functional
def slow_fail(msg):
    time.sleep(0.1)
    raise ValueError(msg)

@functional
def fail(msg):
    raise ValueError(msg)

@functional
def ident(x):
    return x

@schedule
def inner(i):
    if i == 2:
        return fail("inner two")
    return sq(i)

@schedule
def main():
    vals = [inner(i) for i in range(4)]
    total = 0
    for v in vals:
        total += v
    return total

if __name__ == "__main__":
    main()
