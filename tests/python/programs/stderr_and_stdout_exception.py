from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@functional
def add(a, b):
    return a + b

@functional
def fail(msg):
    raise ValueError(msg)

@functional
def ident(x):
    return x

import sys

@schedule
def main():
    for i in range(3):
        print("out", sq(i))
        print("err", i, file=sys.stderr)
    raise KeyError("final")

if __name__ == "__main__":
    main()
