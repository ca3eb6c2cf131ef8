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

import contextlib

@contextlib.contextmanager
def section(name):
    print("begin", name)
    yield
    print("end", name)

@schedule
def main():
    out = []
    for i in range(3):
        with section(i):
            out.append(sq(i))
    return out

if __name__ == "__main__":
    print(main())
