# Calls whose arguments are results of earlier calls (placeholders), in
# loops long enough for the driver's C fast path to batch them: a pairwise
# tree, the same placeholder twice, placeholders among scalars in every
# position, three of them, a result changed in place by driver code before
# it is passed on, a call whose input failed, and a call that raises on
# the inputs it got. Each must give what sequential Python gives, the
# exceptions in program order included.
from pydron import functional, schedule


@functional
def leaf(i):
    return i


@functional
def add(a, b):
    return a + b


@functional
def scale(a, k):
    return a * k


@functional
def triple(a, b, c):
    return (a, b, c)


@functional
def mk(i):
    return [i, i + 1]


@functional
def total(xs):
    return sum(xs)


@functional
def maybe_bad(i):
    if i == 150:
        raise KeyError(i)
    return i


@functional
def check(a, b):
    if a == 177:
        raise ValueError(f"bad {a} {b}")
    return a - b


@functional
def kinds(i):
    """Results of every kind, to be passed on: the worker reads a scalar
    result in C, anything else (and a call that logged) in Python."""
    k = i % 7
    if k == 0:
        return str(i)
    if k == 1:
        return (i, i)
    if k == 2:
        return 2**40 + i
    if k == 3:
        import logging

        logging.getLogger("fastcall_future_args").warning("kind %d", i)
        return i
    if k == 4:
        return None
    if k == 5:
        return i * 0.5
    return i % 2 == 0


@functional
def describe(a, b):
    return f"{a!r}/{b!r}"


@schedule
def passed_on(n):
    xs = []
    for i in range(n):
        xs.append(kinds(i))
    out = []
    for i in range(n):
        out.append(describe(xs[i], xs[(i + 1) % n]))
    return out


@schedule
def tree(n):
    xs = [leaf(i) for i in range(n)]
    while len(xs) > 1:
        xs = [add(xs[i], xs[i + 1]) if i + 1 < len(xs) else xs[i]
              for i in range(0, len(xs), 2)]
    return xs[0]


@schedule
def mixes(n):
    xs = []
    for i in range(n):
        xs.append(leaf(i))
    out = []
    for i in range(n):
        x = xs[i]
        out.append(add(x, x))  # the same placeholder twice
        out.append(scale(x, 3))  # then a scalar
        out.append(scale(2.5, x))  # a scalar first
        out.append(triple(x, i, xs[(i * 7) % n]))
        out.append(triple(xs[(i * 5) % n], xs[(i * 3) % n], x))
    return out


@schedule
def changed(n):
    out = []
    for i in range(n):
        v = mk(i)
        if i % 3 == 0:
            v.append(100)  # driver code changes the result before it is passed on
        out.append(total(v))
    return out


@schedule
def failed_input(n):
    out = []
    for i in range(n):
        out.append(add(maybe_bad(i), 1))
    return out


@schedule
def raising(n):
    out = []
    for i in range(n):
        out.append(check(leaf(i), leaf(i + 1)))
    return out


if __name__ == "__main__":
    print("tree", tree(1024), tree(1000))
    res = mixes(600)
    print("mixes", len(res), res[:7], res[-5:], sum(r if isinstance(r, (int, float)) else sum(r) for r in res))
    res = passed_on(700)
    print("passed_on", res[:8], len(set(res)))
    res = changed(500)
    print("changed", res[:6], sum(res))
    for f in (failed_input, raising):
        try:
            res = f(400)
            print(f.__name__, "returned", sum(res))
        except Exception as e:
            print(f.__name__, "raised", type(e).__name__, e)
