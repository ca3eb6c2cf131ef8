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
    x = slow_fail("outside the try")
    try:
        y = sq(2)
    except ValueError:
        print("wrong handler")
        return "wrong"
    return x, y

if __name__ == "__main__":
    main()
