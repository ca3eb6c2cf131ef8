# any/all over a map of a @functional: a few tasks run ahead of the consumer,
# and where it stops (the first True for any, the first False for all) what
# the program sees is plain Python's: the result, no failure of a task it
# never reached, the failure of one it did (caught or not), and a map it
# holds going on from the item after the one the consumer stopped at.
from pydron import functional, schedule


@functional
def big(x):
    return x > 10


@functional
def positive(x):
    return x > 0


@functional
def checked(x):
    if x == 13:
        raise ValueError(f"bad value {x}")
    return x > 10


@functional
def both(a, b):
    return a == b


@functional
def twice(x):
    return 2 * x


@schedule
def main():
    xs = list(range(20))
    print(any(map(big, xs)), all(map(positive, xs)), all(map(positive, xs[1:])))
    print(any(map(big, [])), all(map(big, [])), any(map(big, range(5))))
    print(any(map(checked, xs)))                    # stops at 11: 13's failure is never raised
    try:
        print(all(map(checked, range(10, 20))))    # reaches 13 (all True up to there)
    except ValueError as e:
        print("caught", e)
    m = map(big, xs)
    print(any(m), next(m), list(m)[:3], len(list(m)))   # the rest after item 11
    m2 = map(positive, range(-3, 8))
    print(all(m2), next(m2), sum(1 for _ in m2))        # stopped at -3
    print(any(map(both, xs, reversed(xs))), all(map(both, "abc", "abd")))
    print(any(map(big, map(twice, xs))), all(map(positive, map(twice, range(1, 50)))))
    hits = [any(map(big, range(k, k + 3))) for k in range(0, 15, 3)]
    print(hits)
    print(all(map(checked, range(20))))             # stops at 0 (False)
    any(map(checked, range(12, 16)))                # 12 is True: stops before 13
    any(map(checked, range(13, 16)))                # raises


if __name__ == "__main__":
    main()
