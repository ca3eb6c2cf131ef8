# Failures in loops over iterators stepped ahead of their tasks: the first
# failure in program order wins, the wrapper's counter is what sequential code
# left, output keeps its order, a consumer's error hides later steps' failures.
import itertools
import time

from pydron import schedule, functional


@functional
def work(i):
    time.sleep(0.05 if i == 1 else 0.2)
    if i == 1:
        raise ValueError(f"bad {i}")
    return i * 10


@functional
def text(i):
    time.sleep(0.1)
    if i == 2:
        raise KeyError(i)
    return "s" if i == 1 else i


def frames(n):
    for i in range(n):
        yield i


def failing_frames(n):
    for i in range(n):
        yield 10 // (2 - i)


def noisy(n):
    for i in range(n):
        print("noisy step", i)
        yield i


class Progress:
    def __init__(self, inner):
        self.inner = inner
        self.n = 0

    def __iter__(self):
        for x in self.inner:
            yield x
            self.n += 1


@schedule
def main():
    bar = Progress(frames(5))
    out = []
    try:
        for i in bar:
            out.append(work(i))
    except ValueError as e:
        print("caught", e, bar.n, len(out))
    try:
        for y in map(work, frames(4)):
            print("got", y)
    except ValueError as e:
        print("caught map", e)
    try:
        for i in failing_frames(4):
            print("frame", i, work(i + 2))
    except ZeroDivisionError as e:
        print("caught gen", e)
    try:
        for i in failing_frames(4):
            out.append(work(i - 4))  # work(1) fails before the generator does
    except (ValueError, ZeroDivisionError) as e:
        print("first", type(e).__name__, e)
    try:
        for i in itertools.islice(failing_frames(4), 3):
            out.append(work(i - 4))  # work(1) fails before the generator does
    except (ValueError, ZeroDivisionError) as e:
        print("islice first", type(e).__name__, e)
    for i in noisy(3):
        print("body", i, work(i + 2))
    try:
        print(sum(map(text, range(4))))
    except (TypeError, KeyError) as e:
        print("consumer", type(e).__name__, e)
    return out


if __name__ == "__main__":
    print(main())
