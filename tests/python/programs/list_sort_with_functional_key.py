# lst.sort(key=...) with a key that calls tasks: every key's task is
# submitted before the list compares two (as sorted(key=...)); the same
# order, stability, reverse=, output, and a failing key's exception where
# list.sort raises it, the list left as it was.
from pydron import functional, schedule


@functional
def brightness(i):
    print("measuring", i)
    return (i * 7) % 5


@functional
def label(i):
    return "abcde"[i % 5] * (1 + i % 3)


@functional
def fragile(i):
    if i == 3:
        raise ValueError(f"cannot measure {i}")
    return -i


@functional
def frame(i):
    print("frame", i)
    return [i, i * 3 % 4]


class Catalog:
    def __init__(self, xs):
        self.xs = list(xs)

    def sort(self, key=None, reverse=False):
        print("Catalog.sort")
        self.xs = sorted(self.xs, key=key, reverse=reverse)


@schedule
def main():
    stars = list(range(8))
    stars.sort(key=brightness)
    print("by brightness", stars)
    stars.sort(key=lambda s: (label(s), -s), reverse=True)
    print("by label", stars)
    frames = [frame(i) for i in range(5)]
    frames.sort(key=lambda f: brightness(f[1]))
    print("frames", frames)
    ties = [5, 0, 10, 1, 6]
    ties.sort(key=brightness)           # equal keys keep their order
    print("stable", ties)
    bad = [1, 2, 3, 4]
    try:
        bad.sort(key=fragile)
    except ValueError as e:
        print("caught", e, "list", bad)
    seen = [3, 1, 2]
    seen.sort(key=lambda v: len(seen) + brightness(v))  # list.sort empties the list meanwhile
    print("reads itself", seen)
    c = Catalog([4, 1, 3])
    c.sort(key=brightness)
    print("catalog", c.xs)
    mixed = [brightness(i) for i in range(4)]
    mixed.sort(key=lambda v: -v)
    print("results", mixed)
    empty = []
    empty.sort(key=brightness)
    print("empty", empty)
    last = [2, 9, 4]
    last.sort(key=fragile, reverse=True)
    print("reversed", last)
    bad.sort(key=lambda v: fragile(v - 1))
    print("never", bad)


if __name__ == "__main__":
    main()
