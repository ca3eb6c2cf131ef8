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
def work(d):
    d["a"] = sq(2)
    x = slow_fail("late failure")
    d["b"] = sq(3)
    d.update(c=sq(4))
    d.pop("old")
    return x

def main():
    d = {"old": 1}
    try:
        work(d)
    except ValueError as e:
        print("caught", e)
    print(sorted(d.items()))

if __name__ == "__main__":
    main()
