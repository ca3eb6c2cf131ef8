# Loops over filter() and itertools objects made over ranges, lists and
# generators of the program, with predicates, keys and functions of several
# kinds (lambdas, defs, builtins, operator, None): the tasks of the loops run
# ahead of the steps where that is the same as sequential, and the results,
# the output and the order are those of plain Python.
import itertools
import operator
import time

from pydron import schedule, functional


@functional
def work(i):
    time.sleep(0.02 * (i % 3))
    return i * 10


def frames(n):
    for i in range(n):
        yield i


def is_even(x):
    return x % 2 == 0


LIMIT = 3


def below_limit(x):
    return x < LIMIT


@schedule
def main():
    global LIMIT
    out = []
    for i in filter(lambda x: x % 3, range(7)):
        out.append(work(i))
    for i in filter(None, frames(4)):
        out.append(work(i))
    for i in filter(is_even, frames(6)):
        out.append(work(i))
    for i in itertools.filterfalse(is_even, range(5)):
        out.append(work(i))
    print("filters", out)
    out = []
    for i in itertools.islice(frames(100), 2, 8, 3):
        out.append(work(i))
    for i in itertools.chain(frames(2), [7, 8], range(9, 11)):
        out.append(work(i))
    for i in itertools.chain.from_iterable([frames(2), [5], range(6, 8)]):
        out.append(work(i))
    for a, b in itertools.zip_longest(frames(3), [1], fillvalue=-1):
        out.append(work(a + b))
    for a, b in itertools.pairwise(frames(4)):
        out.append(work(a * b))
    print("slices", out)
    out = []
    for a, b in itertools.product(frames(2), "xy"):
        out.append((b, work(a)))
    for c in itertools.combinations(frames(4), 2):
        out.append(work(sum(c)))
    for p in itertools.permutations(range(3), 2):
        out.append(work(p[0] - p[1]))
    for c in itertools.combinations_with_replacement([1, 2], 2):
        out.append(work(c[0] * c[1]))
    print("combinatorics", out)
    out = []
    for i in itertools.count(5, 2):
        if i > 11:
            break
        out.append(work(i))
    for i in itertools.repeat(4, 3):
        out.append(work(i))
    for k, i in zip(range(5), itertools.cycle(frames(2))):
        out.append(work(k + i))
    print("infinite", out)
    out = []
    for s in itertools.accumulate(frames(5)):
        out.append(work(s))
    for s in itertools.accumulate([1, 2, 3, 4], operator.mul):
        out.append(work(s))
    for s in itertools.accumulate(range(4), lambda a, b: a * 2 + b, initial=1):
        out.append(work(s))
    for i in itertools.takewhile(below_limit, frames(10)):
        out.append(work(i))
    LIMIT = 5  # the next loop sees the new limit, as sequential code does
    for i in itertools.dropwhile(below_limit, range(8)):
        out.append(work(i))
    for i in itertools.compress(frames(6), [1, 0, 1, 0, 1, 1]):
        out.append(work(i))
    print("accumulate", out)
    out = []
    for key, group in itertools.groupby(frames(9), key=lambda x: x // 3):
        out.append((key, work(sum(group))))
    for key, group in itertools.groupby("aabccc"):
        out.append((key, work(len(list(group)))))
    for y in itertools.starmap(work, [(i,) for i in range(3)]):
        out.append(y)
    for y in itertools.starmap(operator.add, zip(frames(3), range(10, 13))):
        out.append(work(y))
    left, right = itertools.tee(frames(3))
    for a, b in zip(left, right):
        out.append(work(a + b))
    print("groups", out)
    out = []
    for k, i in enumerate(filter(is_even, frames(7)), 1):
        out.append(work(k * i))
    for i, name in zip(filter(None, range(4)), frames(3)):
        out.append((name, work(i)))
    for y in map(lambda x: x * 2, frames(4)):
        out.append(work(y))
    print(sum(itertools.islice(frames(10), 4)), list(filter(is_even, frames(5))),
          sorted(itertools.chain(frames(3), [9, 1])))
    return out


if __name__ == "__main__":
    print(main())
