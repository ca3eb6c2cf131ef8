# any() and all() over generator expressions of task results: pydron submits
# a few items' tasks ahead (several workers busy), and where any/all stop, the
# program sees what plain Python shows: the same answer, only the output of
# the calls Python made, the first exception Python raises (not one of an
# item after the stop), and a held generator expression or iterator that
# goes on from the item after the stop.
from pydron import functional, schedule


@functional
def score(x):
    print("score", x)
    return (x * 37) % 11


@functional
def fails_at(x, bad):
    if x == bad:
        raise ValueError("item %d failed" % x)
    return x


@schedule
def main():
    xs = list(range(20))
    print("any hit", any(score(x) > 8 for x in xs))
    print("any miss", any(score(x) > 20 for x in xs))
    print("all hit", all(score(x) < 10 for x in xs))
    print("all true", all(score(x) >= 0 for x in xs))
    print("empty", any(score(x) for x in []), all(score(x) for x in []))
    print("truthy values", any(score(x) for x in xs), all(score(x) for x in xs))
    print("filtered", any(score(x) == 7 for x in xs if x % 3 == 1))
    # a failure after the stop is never raised; one before it is
    print("fail after stop", any(fails_at(x, 15) > 2 for x in xs))
    try:
        print(any(fails_at(x, 2) > 5 for x in xs))
    except ValueError as e:
        print("fail before stop:", e)
    try:
        print(all(fails_at(x, 7) < 100 for x in xs))
    except ValueError as e:
        print("all fail:", e)
    # the program goes on with what it holds
    gen = (score(x) > 8 for x in xs)
    print("held gen", any(gen), next(gen), list(gen))
    gen = (score(x) < 9 for x in xs)
    print("held gen all", all(gen), list(gen))
    it = iter(xs)
    print("held iterator", any(score(x) > 8 for x in it), list(it))
    # an item the twin cannot take (a plain function prints): in order
    def loud(x):
        print("loud", x)
        return x

    print("plain call", any(score(loud(x)) > 8 for x in xs))
    # any/all in a loop: each stops at its own item
    for k in (3, 9, 10):
        print("k", k, any(score(x) == k for x in range(12)), all(score(x) != k for x in range(12)))
    # a long scan, several windows of steps
    print("long", any(score(x) > 10 for x in range(200)), all(score(x) < 11 for x in range(200)))


if __name__ == "__main__":
    main()
