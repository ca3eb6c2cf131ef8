# Tiny calls sent many per task, whose results switch from call to call
# between what the worker's C loop for a batch encodes itself (int, float,
# str, bytes, bool, None, complex) and what it hands back to the Python loop
# (a list, a dict, a set, a tuple, a bytearray, an exception in the middle
# of a batch, a call with keyword arguments, a call that warns or calls
# another @functional function; printing from a task is a side effect, which
# @functional rules out, so none prints): every call's result, output and failure
# come out as if the calls ran one by one, in program order.
import math
import warnings

from pydron import functional, schedule

warnings.simplefilter("always")


@functional
def inner(i):
    return i * 7


@functional
def kind(i, scale=1):
    k = i % 23
    if k == 0:
        return i * scale
    if k == 1:
        return [i, -i]
    if k == 2:
        return {"i": i, "sq": i * i}
    if k == 3:
        return (i, str(i))
    if k == 4:
        return {i, i + 1}
    if k == 5:
        return 2 ** 70 + i  # a long int
    if k == 6:
        return float("nan") if i % 2 else math.inf
    if k == 7:
        return "é" * (i % 5) + str(i)
    if k == 8:
        return bytes([i % 256]) * 3
    if k == 9:
        return None
    if k == 10:
        return complex(i, -i)
    if k == 11:
        return i % 2 == 0
    if k == 12:
        return bytearray(b"%d" % i)  # mutable
    if k == 13:
        warnings.warn(f"call {i} warns")
        return -i
    if k == 14:
        return inner(i)  # a @functional call inside a task: plain Python there
    if k == 15:
        return frozenset([i])
    if k == 16:
        return -0.0
    return i + 0.5


@functional
def tail(i):
    if i in (157, 201):
        raise ValueError(f"bad {i}")  # in the middle of a batch: the first one counts
    return i


@schedule
def main(n):
    out = []
    for i in range(n):
        out.append(kind(i))
        if i % 97 == 5:
            out.append(kind(i, scale=3))  # keyword argument
    return out


@schedule
def failing(n):
    got = []
    for i in range(n):
        got.append(tail(i))
    return got


if __name__ == "__main__":
    out = main(2000)
    print(len(out), repr(out[:60]))
    print(sum(1 for x in out if type(x) is list), sum(1 for x in out if x is None))
    print(repr(out[-40:]))
    try:
        failing(300)
    except ValueError as e:
        print("failed:", e)
    print(sum(failing(150)))
