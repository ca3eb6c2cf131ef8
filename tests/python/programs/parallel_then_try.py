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
def parse(s):
    return int(s)

@schedule
def main():
    parsed = [parse(s) for s in ["1", "2", "x"]]
    try:
        total = sum(parsed)
    except ValueError as e:
        total = f"failed: {e}"
    return total

if __name__ == "__main__":
    print(main())
