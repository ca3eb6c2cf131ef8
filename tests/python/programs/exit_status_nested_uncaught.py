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
def inner():
    return {"k": fail("deep")}

@schedule
def middle():
    return inner()

@schedule
def main():
    r = middle()
    print("not reached")
    return r

if __name__ == "__main__":
    main()
