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
def batch(xs):
    return [sq(x) for x in xs]

@schedule
def main():
    parts = [batch(range(i, i + 3)) for i in range(0, 9, 3)]
    flat = [v for p in parts for v in p]
    return flat, len(parts)

if __name__ == "__main__":
    print(main())
