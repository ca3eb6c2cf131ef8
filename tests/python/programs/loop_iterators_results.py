# Loops over generators, map(...), a progress-bar wrapper, enumerate/zip of
# these, and builtins consuming map(...): same values and output as Python.
import itertools
import os

from pydron import schedule, functional


@functional
def work(i):
    return i * 10


@functional
def pair(a, b):
    return a + b


def frames(n):
    for i in range(n):
        yield i


def batches(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


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
    out = []
    for i in frames(4):
        y = work(i)
        print("frame", i, y)
        out.append(y)
    for b in batches(list(range(7)), 3):
        out.append(work(len(b)))
    for y in map(work, range(3)):
        out.append(y)
    bar = Progress(frames(3))
    for i in bar:
        out.append(work(i))
    print("bar", bar.n)
    for k, y in enumerate(map(work, range(3)), 1):
        print(k, y)
    for i, name in zip(frames(5), ["a", "b", "c"]):
        print(name, work(i))
    for a, b in zip(map(work, range(3)), frames(9)):
        print(a + b)
    m = map(pair, range(4), frames(2))
    print(type(m).__name__, isinstance(m, map), list(m), list(m))
    print(list(map(work, range(3))), tuple(map(work, frames(2))), sum(map(work, range(4))))
    print(sorted(map(work, [3, 1, 2])), min(map(work, frames(3))), max(map(work, range(3))))
    print(any(map(work, range(3))), all(map(work, range(3))), set(map(work, range(2))))
    print(list(map(lambda v: v + 1, map(work, range(3)))), [work(i) for i in frames(3)])
    print(dict(zip(["x", "y"], map(work, range(2)))), list(enumerate(map(work, range(2)))))
    with open(os.path.abspath(__file__)) as fh:
        for n, line in enumerate(fh):
            if n < 2:
                out.append(work(len(line)))
    g = map(work, range(3))
    print(next(g), list(g))
    sl = itertools.islice(frames(10), 1, 7, 2)
    print(type(sl).__name__)
    for i in sl:
        out.append(work(i))
    for i in itertools.chain(frames(2), [9], batches([1, 2, 3], 2)):
        print("chain", i, work(len(i) if isinstance(i, list) else i))
    for a, b in itertools.zip_longest(frames(3), "ab", fillvalue="-"):
        print(a, b, work(a))
    print(list(itertools.islice(frames(5), 2)), sorted(itertools.chain(frames(2), frames(2))))
    return out


if __name__ == "__main__":
    print(main())
