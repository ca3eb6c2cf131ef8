# try/with bodies, deferred prints and nested @schedule calls together.
import io
import contextlib

from pydron import schedule, functional


@functional
def measure(i) -> float:
    if i == 6:
        raise ArithmeticError(f"overflow in {i}")
    return i / 4


@functional
def label(i) -> str:
    return "x" if i == 5 else str(i)


@schedule
def inner(i):
    try:
        m = measure(i)
        print(f"  inner {i}: {m:.2f}")
        return m * 2
    except ArithmeticError:
        print("  inner caught", i)
        return -1.0


@schedule
def outer(n, parse):
    acc = []
    count = 0
    try:
        for i in range(n):
            v = inner(i)
            acc.append(v)
            s = label(i)
            if parse:
                count += int(s)
            print("step", i, s.upper(), f"{v:+.1f}")
    except ValueError as e:
        print("outer caught:", e, "i =", i, "count =", count, "acc =", acc)
    return acc, count


@schedule
def captured(n):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res = outer(n, False)
    return res, buf.getvalue().count("\n")


if __name__ == "__main__":
    print(outer(5, True))
    print(outer(9, True))
    print(outer(9, False))
    print(captured(8))
