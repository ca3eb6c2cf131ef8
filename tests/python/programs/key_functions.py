# max, min and sorted with a key function that calls a @functional
# (`max(models, key=lambda m: evaluate(m, data))`): every key's call is
# submitted before the first comparison, and what the program sees stays
# sequential: the item chosen (the first of equal ones), the stable order,
# output order, which exception, and effects in the key function.
from pydron import functional, schedule


@functional
def evaluate(m, data):
    return -abs(m - data) * 0.5


@functional
def score(m):
    return (m * 7) % 5


@functional
def fails_at(m, bad):
    if m == bad:
        raise ValueError("evaluate %d failed" % m)
    return m % 3


def shout(m):
    print("shout", m)
    return m % 4


def max(*args, **kwargs):  # noqa: A001 - a program's own max, called as written
    print("own max")
    return __builtins__.max(*args, **kwargs) if hasattr(__builtins__, "max") else 0


@schedule
def main():
    models = list(range(12))
    data = 6.5
    print("min", min(models, key=lambda m: evaluate(m, data)))
    print("sorted", sorted(models, key=lambda m: score(m)))
    print("sorted reverse", sorted(models, key=lambda m: score(m), reverse=True))
    print("sorted operator", sorted(models, key=lambda m: -score(m) + m / 100))
    print("tuple key", sorted(models[:6], key=lambda m: (score(m), -m)))
    print("min default", min([], key=lambda m: score(m), default="none"),
          min(models, key=lambda m: score(m), default="none"))
    print("over a range", min(range(10), key=lambda i: evaluate(i, 3.2)))
    print("over enumerate", min(enumerate("abcdef"), key=lambda t: score(t[0])))
    print("over a dict", sorted({"a": 1, "b": 2, "c": 3}, key=lambda k: score(len(k) * 3)))
    print("by name", max(models, key=score), sorted(models, key=score, reverse=True),
          min(models[:5], key=shout), sorted(["bb", "a", "ccc"], key=len))
    ys = [score(m) for m in models]  # placeholders as the data
    print("over placeholders", sorted(ys, key=lambda y: evaluate(y, 2)))

    # a key's task fails: its exception, where the key would have raised
    try:
        print(min(models, key=lambda m: fails_at(m, 5)))
    except ValueError as e:
        print("caught", e)
    try:
        print(sorted(models, key=lambda m: fails_at(m, 9)))
    except ValueError as e:
        print("caught", e)
    # the comparison fails
    try:
        print(min(models, key=lambda m: score(m) if m != 4 else "four"))
    except TypeError as e:
        print("caught TypeError", e)
    try:
        print(sorted(models, key=lambda m: score(m) if m != 7 else None))
    except TypeError as e:
        print("caught TypeError", e)
    # effects in the key function: in order with the comparisons'
    print("effects", min(models[:5], key=lambda m: shout(m)))
    print("mixed", min(models[:6], key=lambda m: score(m) if m < 3 else shout(m)))
    print("effects sorted", sorted(models[:4], key=lambda m: print("key", m) or score(m)))
    # data that is not a plain sequence: the call as written
    def numbers(n):
        for i in range(n):
            print("producing", i)
            yield i
    print("generator", min(numbers(4), key=lambda m: score(m)))
    print("map", sorted(map(score, models[:5]), key=lambda s: evaluate(s, 1)))
    # the program's own max is called as written
    print("own", max(models, key=lambda m: score(m)))

    def best_of(k):
        return min(models, key=lambda m: evaluate(m, k))
    print("nested", best_of(2.2), best_of(9.9))
    return "done"


if __name__ == "__main__":
    print(main())
