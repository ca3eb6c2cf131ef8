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

LATEST = None

def latest():
    return LATEST

@schedule
def main():
    global LATEST
    seen = []
    for i in range(3):
        LATEST = sq(i)
        seen.append(latest())
    return seen

if __name__ == "__main__":
    print(main())
