# Many tiny @functional calls that print, run many to a message: each call's
# output still comes where the sequential program prints it, and a failing
# call's output stops the run at its point.
from pydron import functional, schedule


@functional
def tick(i):
    print("tick", i)
    return i + 1


@functional
def tock(i, bad):
    print("tock", i)
    if i == bad:
        raise KeyError(i)
    return i


@schedule
def main():
    out = []
    for i in range(400):
        out.append(tick(i))
        if i % 100 == 99:
            print("driver at", i, sum(out))
    try:
        vals = [tock(i, 250) for i in range(400)]
        print(len(vals))
    except KeyError as e:
        print("caught KeyError", e)
    return sum(out)


if __name__ == "__main__":
    print(main())
