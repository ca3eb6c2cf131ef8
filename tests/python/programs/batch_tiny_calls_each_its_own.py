# Thousands of tiny calls: the runtime learns they are tiny and sends them many
# per task (adaptive granularity). Each call's result, its own exception and
# the order of everything must stay as in plain Python: results consumed as
# inputs of later calls, a call that fails in the middle of a batch, mutable
# arguments changed after the call (snapshot), and a pairwise tree.
from pydron import schedule, functional


@functional
def inc(x):
    return x + 1


@functional
def add(a, b):
    return a + b


@functional
def head(xs):
    return xs[0] * 10 + len(xs)


@functional
def check(i):
    if i % 997 == 500:
        raise ValueError(f"bad item {i}")
    return i * 2


@schedule
def plain(n):
    out = []
    for i in range(n):
        out.append(inc(i))
    return sum(out), out[:3], out[-3:]


@schedule
def chained(n):
    # each call takes the result of a call that may sit in the same batch
    x = 0
    for _ in range(n):
        x = inc(x)
    return x


@schedule
def snapshot(n):
    buf = [0]
    out = []
    for i in range(n):
        buf[0] = i
        out.append(head(buf))  # the list as of the call
        buf.append(i)
    return out[:2], out[-2:]


@schedule
def tree(n):
    xs = [inc(i) for i in range(n)]
    while len(xs) > 1:
        xs = [add(xs[i], xs[i + 1]) for i in range(0, len(xs), 2)]
    return xs[0]


@schedule
def failing(n):
    out = []
    for i in range(n):
        out.append(check(i))
        if i % 1000 == 999:
            print("progress", i, out[i - 1])
    return sum(out)


@schedule
def caught(n):
    got = []
    for i in range(n):
        try:
            got.append(check(i))
        except ValueError as e:
            got.append(str(e))
    return got[498:503], len(got)


if __name__ == "__main__":
    print(plain(5000))
    print(chained(300))
    print(snapshot(2000))
    print(tree(1024))
    print(caught(1200))
    try:
        print(failing(3000))
    except ValueError as e:
        print("failed:", e)
    print(failing(3000))
