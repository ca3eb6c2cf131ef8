# Tiny calls on the driver's C fast path that fail: the first failing call
# in program order is raised, with the traceback of its own call, after the
# list the program was filling is rolled back to what it held then.
from pydron import functional, schedule


@functional
def g(i):
    if i in (1777, 1701):
        raise ValueError(f"bad {i}")
    return i * 2


@schedule
def fill(out, n):
    for i in range(n):
        out.append(g(i))
    return len(out)


if __name__ == "__main__":
    out = []
    print(fill(out, 1000), sum(out))
    out = []
    try:
        fill(out, 3000)
    except ValueError as e:
        print("caught", e, len(out), out[-1])
    fill([], 2000)
