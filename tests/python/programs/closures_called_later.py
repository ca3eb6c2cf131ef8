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
    fs = []
    for i in range(3):
        v = sq(i)
        fs.append(lambda v=v: v + 100)
    return [f() for f in fs]

if __name__ == "__main__":
    print(main())
