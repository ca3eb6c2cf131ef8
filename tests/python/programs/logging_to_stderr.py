from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@functional
def add(a, b):
    return a + b

@functional
def fail(msg):
    raise ValueError(msg)

@functional
def ident(x):
    return x

import logging
logging.basicConfig(format="%(levelname)s %(message)s")
log = logging.getLogger("prog")

@schedule
def main():
    for i in range(3):
        v = sq(i)
        log.warning("got %s", v)
    print("done")

if __name__ == "__main__":
    main()
