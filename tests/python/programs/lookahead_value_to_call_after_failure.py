from pydron import schedule, functional

# A value made by a driver operation on a result (r - 1, float(r), s.strip())
# goes to a later call, while the driver runs ahead of a call that fails: the
# failure is raised at its place in program order (caught by the program's
# own except clause), and no later call runs with a value of a statement
# that never happened. Also a failing driver operation (int("x7")) and a
# global bound to such a value between calls.
SEED = 0


@functional
def risky(x):
    if x == 777:
        raise ValueError(f"bad {x}")
    return x * 2


@functional
def label(i):
    return f" {i} " if i != 13 else " x7 "


@functional
def use(v):
    return v + SEED


@schedule
def main(lo, hi):
    global SEED
    got = []
    try:
        for i in range(lo, hi):
            got.append(risky(risky(i) - 1))
        print("sum", sum(got))
    except ValueError as e:
        print("ValueError", e, len(got))
    out = []
    try:
        for i in range(10, 20):
            n = int(label(i).strip())
            out.append(use(n))
    except ValueError as e:
        print("ValueError", str(e)[:40], len(out))
    print(sum(out))
    total = []
    try:
        for i in range(380, 400):
            SEED = float(risky(i)) - 1
            total.append(risky(use(0)))
    except ValueError as e:
        print("ValueError", e, len(total), SEED)
    print(sum(total))


if __name__ == "__main__":
    main(380, 400)
    main(300, 360)
