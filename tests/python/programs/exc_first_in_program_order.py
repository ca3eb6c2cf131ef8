from pydron import schedule, functional

import time

@functional
def slow_fail(x):
    time.sleep(0.2)
    raise ValueError("first " + str(x))

@functional
def fast_fail(x):
    raise TypeError("second " + str(x))

@schedule
def main():
    a = slow_fail(1)
    b = fast_fail(2)
    return a, b

if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print(type(e).__name__, e)
    main()
