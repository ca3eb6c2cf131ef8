# Stores into names of an enclosing function (`nonlocal`) and into globals
# among other targets (`G, H = ...`), right after a @functional call whose
# task then fails, its exception caught: plain Python never made them (the
# call raised first). Counters bumped by nested functions, a nested
# function's nested function, a tuple store of a cell and an item.
from pydron import functional, schedule

G = 0
H = 0


@functional
def calib(x):
    if x % 3 == 2:
        raise ValueError("bad image %d" % x)
    return float(x)


@schedule
def main():
    global G, H
    n = 0
    m = 0
    k = [0]

    def bump():
        nonlocal n
        n += 1

    def both():
        nonlocal m
        m, k[0] = m + 2, k[0] + 1

    def deep():
        def inner():
            nonlocal n
            n = n + 10
        inner()

    for i in range(7):
        try:
            v = calib(i)
            bump()
            both()
            deep()
            G, H = G + 1, H + 2
            print("ok", i, v)
        except ValueError as e:
            print("skip", e)
    print(n, m, k, G, H)


@schedule
def counted(images):
    done = 0

    def mark():
        nonlocal done
        done += 1

    try:
        for i in images:
            calib(i)
            mark()
    except ValueError as e:
        print("stopped:", e)
    return done


main()
print(counted([0, 1, 3, 5, 6]))
print(counted([0, 1, 3]))
