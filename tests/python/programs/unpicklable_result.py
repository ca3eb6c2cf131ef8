# differential-stderr: ^TypeError: numbers\(\): its result cannot be pickled: .*_thread.lock
# The oracle pickles what the function returned; pydron must fail at the task,
# with a TypeError naming the function (as for an unpicklable argument).
# (A generator result travels: generators_given_to_tasks.)
import pickle
import threading

from pydron import functional, schedule


@functional
def numbers(n):
    return [threading.Lock() for i in range(n)]


def keep(x):
    return pickle.dumps(x)


@schedule
def main():
    print("before")
    g = numbers(3)
    keep(g)
    print("after")


if __name__ == "__main__":
    main()
