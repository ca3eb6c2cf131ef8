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
    v = sq(3)
    assert v < 5, ident(f"value too big")

if __name__ == "__main__":
    main()
