# A task fails in the middle of a loop whose prints are deferred: the prints
# before it appear, those after it do not, and its exception is the one raised.
from pydron import schedule, functional


@functional
def value(i):
    if i == 5:
        raise KeyError(f"no frame {i}")
    return float(i) * 1.5


@functional
def text(i):
    return "x" if i == 7 else str(i)


@schedule
def loop_fail(n):
    total = 0
    for i in range(n):
        v = value(i)
        total += v
        print("value", i, v, f"{v:.1f}")
    return total


@schedule
def op_fail(n):
    # int("x") fails inside a deferred operation
    s = 0
    for i in range(n):
        t = text(i)
        s += int(t)
        print("text", i, t.upper(), s)
    return s


if __name__ == "__main__":
    try:
        loop_fail(10)
    except KeyError as e:
        print("caught", repr(e))
    try:
        op_fail(10)
    except ValueError as e:
        print("caught", e)
    print(op_fail(7))
    loop_fail(8)
