# differential-stderr: ^TypeError: .*use.*pickl
# The oracle pickles inside the function; pydron must refuse at the call, with a
# TypeError naming the function and the argument.
import pickle
import threading

from pydron import schedule, functional

@functional
def use(x):
    return len(pickle.dumps(x))

@schedule
def main():
    print("before")
    n = use(threading.Lock())
    print("after")
    return n

if __name__ == "__main__":
    main()
