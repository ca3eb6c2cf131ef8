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

import contextlib

@schedule
def main():
    out = []
    with contextlib.suppress(ValueError):
        out.append(sq(2))
        fail("suppressed")
        out.append("not reached")
    out.append(sq(3))
    return out

if __name__ == "__main__":
    print(main())
