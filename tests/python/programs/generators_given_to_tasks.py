# A generator given to a task (a generator expression, a generator function's
# generator, one nested in a list or passed by keyword) reaches it as a
# generator of the same items: sum, len(list(...)), partial reads, failures the
# generator raises (caught in the task, or not), items that are results of
# other tasks, numpy arrays, an empty one. The program's own generator is used
# up by the call, as in plain Python when the task reads it all. A @functional
# generator function's call gives the program a generator of its items (read
# in a loop, by list, given to another task, many tiny ones, one that fails
# part-way).
import numpy as np

from pydron import functional, schedule


@functional
def total(values):
    return sum(values)


@functional
def describe(values):
    import inspect

    items = list(values)
    return f"{inspect.isgenerator(values)} {len(items)} {items[:3]}"


@functional
def first_two(values):
    it = iter(values)
    return next(it), next(it)


@functional
def safe_total(values):
    t = 0
    try:
        for v in values:
            t += v
    except ValueError as e:
        return ("stopped", t, str(e))
    return ("done", t)


@functional
def total_of(*, values, scale=1):
    return scale * sum(values)


@functional
def sums(groups):
    return [sum(g) for g in groups]


@functional
def square(x):
    return x * x


@functional
def norms(arrays):
    return [float(np.linalg.norm(a)) for a in arrays]


@functional
def stream(n):
    for i in range(n):
        yield i * i


@functional
def stream_failing(n, bad):
    for i in range(n):
        if i == bad:
            raise KeyError(i)
        yield i


@functional
def checked(x):
    if x == 4:
        raise ValueError(f"bad item {x}")
    return x


def plus(x):
    return x + 100


def rows(n):
    for i in range(n):
        yield i * 3


def failing(n, bad):
    for i in range(n):
        if i == bad:
            raise ValueError(f"row {i} is bad")
        yield i


@schedule
def main():
    xs = list(range(1, 11))
    print(total(x * 2 for x in xs), total(rows(5)), total(x for x in []))
    print(describe(x for x in xs if x % 2), describe(rows(4)))
    print(first_two(x * 10 for x in xs))
    print(total(square(x) for x in xs))                 # items are results of tasks
    print(total(x + y for x in range(3) for y in range(4)))
    g = (x for x in xs)
    print(next(g), next(g), total(g), list(g))          # the rest, then nothing
    print(safe_total(failing(6, 3)), safe_total(failing(3, 9)))
    try:
        print(total(failing(5, 2)))
    except ValueError as e:
        print("caught", e)
    print(total_of(values=(x for x in xs), scale=2), sums([rows(3), (x for x in xs)]))
    print(norms(np.full(50_000, float(i)) for i in range(3)))
    results = [total(rows(k)) for k in range(6)]
    print(results, total(r for r in results))
    s = stream(5)
    print(type(s).__name__, [v + 1 for v in s], list(s), sum(stream(4)))
    print(total(stream(6)), describe(stream(3)), safe_total(stream(2)))
    print([list(stream(k)) for k in range(40)][-1][-3:])
    print(sum(total(stream(k)) for k in range(30)))
    got = []
    try:
        for v in stream_failing(5, 3):
            got.append(v)
    except KeyError as e:
        print("stream failed after", got, repr(e))
    print(total(stream_failing(2, 5)))
    # generator expressions of tasks: every item's task submitted first
    print(total(square(x) + 1 for x in xs), describe(square(x) for x in xs if x % 3))
    print(total(square(x) if x < 5 else plus(x) for x in xs))   # the rest read as it goes
    print(safe_total(checked(x) for x in range(3)), total_of(values=(square(x) for x in xs)))
    try:
        print(total(checked(x) for x in range(8)))
    except ValueError as e:
        print("caught", e)
    try:
        print(safe_total(checked(x) for x in range(8)))   # the task's except sees it
    except ValueError as e:
        print("caught outside", e)
    g2 = (square(x) for x in xs)
    print(total(g2), list(g2))
    total(stream_failing(4, 1))


if __name__ == "__main__":
    main()
