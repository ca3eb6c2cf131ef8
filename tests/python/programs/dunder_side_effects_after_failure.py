import time

from pydron import schedule, functional

class Loud:
    def __init__(self, v):
        self.v = v
    def __add__(self, other):
        print("adding", self.v, other)
        return Loud(self.v + other)
    def __bool__(self):
        print("testing truth of", self.v)
        return True
    def __eq__(self, other):
        print("comparing", self.v)
        return False

@functional
def slow_fail(msg):
    time.sleep(0.1)
    raise ValueError(msg)

@functional
def ident(x):
    return x

@schedule
def work(obj):
    obj = obj + ident(1)
    bad = slow_fail("fails before the dunder effects")
    obj = obj + 1
    if obj:
        print("never")
    return obj == 3, bad

def main():
    try:
        work(Loud(0))
    except ValueError as e:
        print("caught", e)

if __name__ == "__main__":
    main()
