# Generator expressions of several `for`s (grids, triangles, flattening
# rows) given to builtins, looped over, held, stopped early, given to a task:
# the same values, output, exceptions and leftover state as plain Python.
from pydron import functional, schedule


@functional
def f(x, y):
    return x * 10 + y


@functional
def g(v):
    return v * v


@functional
def checked(x, y):
    if (x, y) == (2, 1):
        raise ValueError(f"bad pair {x},{y}")
    return x + y


@functional
def rows(n):
    return [list(range(k)) for k in range(n)]


@functional
def total(values):
    return sum(values)


def gen(n):
    for i in range(n):
        yield i


@schedule
def main():
    xs, ys, n = [1, 2, 3], [0, 1], 5
    print(sum(f(x, y) for x in xs for y in ys), sorted(f(x, y) for x in ys for y in xs))
    print(list(f(x, y) for x in xs for y in ys), set(g(y) for x in xs for y in ys))
    print(max(f(i, j) for i in range(n) for j in range(i + 1, n)),
          min(f(i, j) for i in range(n) for j in range(i, n) if (i + j) % 2))
    print(sum(g(y) for row in [[1, 2], [3], []] for y in row))
    print(sum(g(y) for row in rows(4) for y in row))          # rows: a task's result
    print(sum(f(a, b) for a in xs for b, c in [(1, 2), (3, 4)]))
    print(sum(f(x, y) + z for x in xs for y in ys for z in range(x)))
    print(sum(f(x, y) for x in xs if x > 1 for y in ys))      # a condition on the outer for
    print(sum(f(x, y) for x in xs for y in gen(x)))           # an inner generator
    print(any(f(x, y) > 20 for x in xs for y in ys), all(f(x, y) < 25 for x in xs for y in ys))
    h = (f(x, y) for x in xs for y in [0, 1, 2])
    print(next(h), next(h), any(v > 11 for v in h), list(h))   # held, stopped mid-row
    h2 = (f(x, y) for x in xs for y in ys)
    print(any(h2), list(h2))
    for v in (g(x + y) for x in range(3) for y in range(2)):
        print("item", v)
    try:
        print(sum(checked(x, y) for x in xs for y in ys))
    except ValueError as e:
        print("caught", e)
    try:
        print(sum(f(x, y) for x in xs for y in x))              # int is not iterable
    except TypeError as e:
        print("caught", e)
    print(total(f(x, y) for x in xs for y in ys))
    print(sum(f(x, y) for x in xs for y in [0, n]), sum(f(x, y) for x in xs for y in (x, "a" * 0 or 1)))
    parts = rows(3)                                            # a task's list, read inside
    print(sum(g(len(p)) + y for p in parts for y in p), sum(f(x, y) for x in ys for y in ys))
    try:
        print(sum(f(x, y) for x in xs for y in range(x / 2)))  # range of a float
    except TypeError as e:
        print("caught", e)
    print(sum(checked(x, y) for x in xs for y in ys))


if __name__ == "__main__":
    main()
