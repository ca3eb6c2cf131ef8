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
def main():
    xs = [3, -1, 2, -4]
    return sorted(xs, key=sq), max(xs, key=sq), list(map(sq, xs))

if __name__ == "__main__":
    print(main())
