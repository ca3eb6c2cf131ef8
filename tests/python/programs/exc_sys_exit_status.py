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
    v = sq(3)
    print("v", v)
    sys.exit(v - 6)

if __name__ == "__main__":
    main()
