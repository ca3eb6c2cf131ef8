# A map, zip or enumerate made in the @schedule body and given whole to a
# task: the task iterates what Python's own would give it (f's values, the
# pairs, the counts), also after the program took some items itself or a
# consumer stopped early on it. (The task iterates a copy: as for any
# argument a task changes, the program's own is left where it was.)
from pydron import functional, schedule


@functional
def join(vals):
    return "-".join(map(repr, vals))


@functional
def count(vals):
    return len(list(vals))


@functional
def square(v):
    return v * v


def check(v):
    if v == 3:
        raise ValueError(f"bad item {v}")
    return v * 10


@schedule
def main():
    xs = [1, 2, 3, 4, 5]
    print(join(map(str, xs)), count(map(abs, xs)))
    print(join(map(lambda v: v * 10, xs)), join(map(pow, xs, [2, 2, 2])))
    print(join(map(square, xs)))                    # the task calls the @functional itself
    m = map(str, xs)
    print("took", next(m), next(m), "task", join(m))  # the rest
    z = zip(xs, "abcde")
    next(z)
    print(join(z))
    e = enumerate(xs, start=1)
    next(e)
    next(e)
    print(join(e))
    m2 = map(check, xs)
    try:
        print(sum(m2))
    except ValueError as err:
        print("caught", err)
    print("rest", join(m2))
    print(join(map(str, map(square, xs))), join(zip(map(str, xs), xs)))


if __name__ == "__main__":
    main()
