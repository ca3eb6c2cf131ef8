# @functional functions that print (progress lines, diagnostics): their
# output comes where the sequential program prints it, between the driver's
# own lines, on every executor; a task sequential code never reaches (after
# a failing item) prints nothing.
import sys

from pydron import functional, schedule


def note(i):
    print("  note from a helper", i)


@functional
def fit(i):
    print("fitting", i)
    note(i)
    sys.stdout.write("chi2 %d\n" % (i * 3))
    print("partial", end=" ")
    print("line", i, sep=":", flush=True)
    return i * i


@functional
def fails_at(i, bad):
    print("start", i)
    if i == bad:
        print("about to fail", i, file=sys.stderr)
        raise ValueError("item %d failed" % i)
    print("end", i)
    return i


@functional
def loud_table(n):
    for r in range(n):
        print("row", r, "|" + "#" * r)
    return n


@functional
def warn_err(i):
    print("to stderr", i, file=sys.stderr)
    return i


@schedule
def main():
    out = []
    for i in range(4):
        out.append(fit(i))
        print("driver after", i)
    print("sum", sum(out))
    squares = [fit(i) for i in range(4, 7)]
    print("comprehension", squares)
    fit(9)  # called for its output only
    print("after the bare call")
    print("table", loud_table(3), loud_table(2))
    try:
        print(sum(fails_at(i, 3) for i in range(6)))
    except ValueError as e:
        print("caught", e)
    try:
        vals = []
        for i in range(6):
            vals.append(fails_at(i, 2))
            print("appended", i)
        print(vals)
    except ValueError as e:
        print("caught again", e)
    total = sum(warn_err(i) for i in range(3))
    print("total", total)
    return "done"


if __name__ == "__main__":
    print(main())
