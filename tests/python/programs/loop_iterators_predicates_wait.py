# Predicates and keys that cannot run ahead of the tasks: they look at task
# results (placeholders until computed), print, read a list that holds
# results, change state, or are objects of the program; and predicates that
# raise while an earlier task fails. Each gives what plain Python gives: the
# values, the output in order, the first failure in program order.
import itertools
import time

from pydron import schedule, functional


@functional
def work(i):
    time.sleep(0.03 * (3 - i % 3))
    return i * 10


@functional
def fails(i):
    time.sleep(0.05)
    raise ValueError(f"task {i} failed")


def frames(n):
    for i in range(n):
        yield i


SEEN = []


def noisy_even(x):
    print("checking", x)
    return x % 2 == 0


def remember(x):
    SEEN.append(x)
    return True


class Threshold:
    def __init__(self, limit):
        self.limit = limit

    def __call__(self, x):
        return x < self.limit


def reads_seen(x):
    return len(SEEN) < 5


@functional
def big(x):
    return x > 10


@schedule
def main():
    results = [work(i) for i in range(6)]
    out = []
    for r in filter(lambda v: v > 20, results):  # placeholders: the predicate waits
        out.append(work(r // 10))
    for r in itertools.takewhile(lambda v: v < 30, results):
        out.append(work(r // 10 + 1))
    for s in itertools.accumulate(results):
        out.append(work(s // 10))
    for key, group in itertools.groupby(results, key=lambda v: v // 30):
        out.append((key, sum(group)))
    print("from results", out)
    out = []
    for i in filter(noisy_even, frames(5)):
        print("body", i)
        out.append(work(i))
    for i in filter(remember, frames(3)):
        out.append(work(i))
    print("seen", SEEN)
    for i in filter(Threshold(3), range(6)):
        out.append(work(i))
    SEEN.append(work(1))  # the list now holds a result
    for i in filter(reads_seen, range(3)):
        out.append(work(i))
    print("waited", out)
    out = []

    def keep(x):  # a nested def whose value comes from a task
        return work(x) > 10

    for i in filter(keep, range(4)):
        out.append(work(i))
    for i in filter(big, range(13)):  # a @functional predicate: its task's value
        out.append(work(i))
    for k, g in itertools.groupby(range(5), key=keep):
        out.append((k, list(g)))
    print("tasks as predicates", out)
    try:
        out = []
        for i in filter(lambda x: 10 // (3 - x), frames(5)):
            out.append(fails(i) if i == 1 else work(i))
    except (ValueError, ZeroDivisionError) as e:
        print("first", type(e).__name__, e, len(out))
    try:
        for i in itertools.takewhile(lambda x: 1 / (2 - x), range(5)):
            out.append(work(i))
    except ZeroDivisionError as e:
        print("predicate", e)
    try:
        for key, group in itertools.groupby([fails(0), work(1)]):
            print("never", key)
    except ValueError as e:
        print("group", e)
    return out


if __name__ == "__main__":
    print(main())
