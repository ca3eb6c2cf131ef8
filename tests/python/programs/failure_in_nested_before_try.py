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
    return slow_fail("from inner")

@schedule
def main():
    v = inner()
    try:
        print("inside try")
    except ValueError:
        print("wrongly caught")
    return v

if __name__ == "__main__":
    main()
