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
    xs = [sq(i) for i in range(3)]
    t = (ident("a"), xs)
    return repr(t), str(xs), f"{t}", "%r" % (t,)

if __name__ == "__main__":
    print(main())
