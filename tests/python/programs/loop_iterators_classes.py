# Iterator classes of the program (a Python __next__): those whose __next__
# only updates the iterator's own attributes run ahead of the loop's tasks;
# those that print, read a list holding results or call methods wait. The
# iterator's state after an earlier task's failure is what sequential code
# left.
import time

from pydron import schedule, functional


@functional
def work(i):
    time.sleep(0.02 * (3 - i % 3))
    if i == 13:
        raise ValueError("unlucky")
    return i * 10


class Countdown:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.n == 0:
            raise StopIteration
        self.n -= 1
        return self.n


class Squares:
    def __init__(self, n):
        self.i = 0
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= self.n:
            raise StopIteration()
        v = self.i * self.i
        self.i += 1
        return v


class Talkative(Countdown):
    def __next__(self):
        v = super().__next__()
        print("step", v)
        return v


LOG = []


class ReadsLog:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if len(LOG) >= self.n:
            raise StopIteration
        return len(LOG)


class Shelf:
    """An iterable (not an iterator): its __iter__ makes a Countdown."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return Countdown(self.n)


@schedule
def main():
    out = []
    for i in Countdown(4):
        out.append(work(i))
    sq = Squares(4)
    for v in sq:
        out.append(work(v))
    print("squares", sq.i, out)
    for i in Talkative(3):
        print("body", i)
        out.append(work(i))
    for i in ReadsLog(3):
        LOG.append(work(i))
    print("log", LOG)
    for i in Shelf(3):
        out.append(work(i + 1))
    c = Countdown(20)
    try:
        for i in c:
            out.append(work(i))
    except ValueError as e:
        print("caught", e, c.n)  # sequential: stopped right after 13 was taken
    print(len(out), [x for x in out if x % 20 == 0][:5])
    return sum(out)


if __name__ == "__main__":
    print(main())
