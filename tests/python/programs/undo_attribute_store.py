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

class State:
    pass

@schedule
def work(s):
    s.a = sq(2)
    x = slow_fail("attr")
    s.b = sq(3)
    s.a = sq(10)
    return x

def main():
    s = State()
    try:
        work(s)
    except ValueError:
        print("caught")
    print(sorted(vars(s).items()))

if __name__ == "__main__":
    main()
