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

@functional
def maybe_find(xs, t):
    return xs.index(t) if t in xs else None

@schedule
def main():
    xs = [5, 7, 9]
    found = [maybe_find(xs, t) for t in (7, 8, 9)]
    return [f for f in found if f is not None], found.count(None)

if __name__ == "__main__":
    print(main())
