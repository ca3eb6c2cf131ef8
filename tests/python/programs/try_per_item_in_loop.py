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
    vals = []
    for s in ["1", "x", "3", "", "5"]:
        try:
            vals.append(parse(s))
        except ValueError as e:
            vals.append(f"bad: {e}")
    return vals

if __name__ == "__main__":
    print(main())
