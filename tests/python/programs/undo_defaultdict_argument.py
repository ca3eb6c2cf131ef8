import time
from collections import defaultdict

from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@functional
def slow_fail(msg):
    time.sleep(0.1)
    raise ValueError(msg)

@schedule
def work(d):
    d["a"].append(sq(2))
    d["n"] = sq(3)
    x = slow_fail("stop")
    d["b"] = sq(4)
    d["n"] = sq(5)
    d.pop("a")
    return x

def main():
    d = defaultdict(list)
    try:
        work(d)
    except ValueError as e:
        print("caught", e)
    print(sorted(d.items()))

if __name__ == "__main__":
    main()
