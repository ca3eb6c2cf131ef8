# Loops over a generator expression (for, enumerate/zip of it, a list
# comprehension over it): each item's call is submitted when the loop
# reaches it, without waiting for the ones before; the loop body's effects,
# what the expression reads when, and failures stay sequential.
from pydron import functional, schedule


@functional
def sq(x):
    return x * x


@functional
def fails_at(x, bad):
    if x == bad:
        raise ValueError("task %d failed" % x)
    return x + 1


@schedule
def main():
    total = 0
    for v in (sq(x) for x in range(6)):
        total += v
        print("item", v, total)
    for i, v in enumerate(sq(x) + 1 for x in range(4)):
        print("enumerate", i, v)
    for a, b in zip((sq(x) for x in range(5)), "abc"):
        print("zip", a, b)
    print("listcomp", [v * 2 for v in (sq(x) for x in range(5))])
    # the body changes what the expression reads next
    k = 1
    for v in (sq(x) * k for x in range(4)):
        print("scaled", v)
        k += 10
    src = [1, 2, 3]
    for v in (sq(x) for x in src):
        print("grows", v)
        if len(src) < 6:
            src.append(len(src) + 1)
    # left early, then the same generator goes on
    g = (sq(x) for x in range(8))
    for v in g:
        print("first", v)
        if v >= 4:
            break
    print("rest", list(g))
    g = (sq(x) for x in range(6))
    for v in g:
        if v == 1:
            break
    print("next", next(g), sum(g))
    # a failing item: the body ran for the items before it
    try:
        for v in (fails_at(x, 3) for x in range(6)):
            print("ok", v)
    except ValueError as e:
        print("caught", e)
    # the body raises: the expression stops there
    try:
        for v in (sq(x) for x in range(6)):
            print("body", v)
            if v == 4:
                raise KeyError(v)
    except KeyError as e:
        print("caught KeyError", e)
    # a consumer with a key= function of the program (it runs between items)
    seen = []
    print("key", max((sq(x) - len(seen) for x in range(5)), key=lambda v: seen.append(v) or -v), seen)
    print("sorted key", sorted((sq(x) for x in range(-3, 3)), key=lambda v: -v))
    return total


if __name__ == "__main__":
    print(main())
