import time

from pydron import schedule, functional

STATUS = "initial"
COUNT = 0

@functional
def sq(x):
    return x * x

@functional
def slow_fail(msg):
    time.sleep(0.1)
    raise ValueError(msg)

@schedule
def work():
    global STATUS, COUNT, NEW
    COUNT = sq(3)
    bad = slow_fail("stop here")
    STATUS = "after failure"
    COUNT = sq(10)
    NEW = 1
    return bad

def main():
    try:
        work()
    except ValueError as e:
        print("caught", e)
    print(STATUS, COUNT, "NEW" in globals())

if __name__ == "__main__":
    main()
