# A builtin that consumes a generator expression or a map whole (sum, max,
# set, dict, statistics.mean, max with a key, ...) can stop early: the
# consumer raises at item k (a failing task, a TypeError of its own). The
# sequential program then finds what it holds where the consumer left it:
# an iterator it stepped (`it = iter(xs)`, `reversed`, `enumerate(it)`,
# `zip(it, ys)`, a range's iterator), the generator expression or map itself
# (`gen = (...)`, `m = map(...)`), which it may go on with. pydron submits the
# tasks of the later items ahead; none of that may show.
import math
import statistics

from pydron import functional, schedule


@functional
def val(x):
    return "s" if x == 4 else x


@functional
def fails(x):
    if x == 5:
        raise ValueError("item %d failed" % x)
    return x + 0.5


@functional
def double(x):
    return 2 * x


def attempt(label, consume):
    try:
        print(label, "=", consume())
    except (TypeError, ValueError) as e:
        print(label, "raised", type(e).__name__, e)


def sources(xs):
    """(label, make) for every kind of iterator a program holds."""
    return [
        ("iter", lambda: iter(xs)),
        ("tuple iter", lambda: iter(tuple(xs))),
        ("reversed", lambda: reversed(xs)),
        ("range iter", lambda: iter(range(len(xs)))),
        ("enumerate", lambda: enumerate(xs)),
        ("zip", lambda: zip(xs, xs)),
    ]


def item(v):
    """the number in what a source yields (a pair for enumerate and zip)"""
    return v[1] if type(v) is tuple else v


@schedule
def main():
    xs = list(range(12))
    for label, make in sources(xs):
        # a generator expression over an iterator the program holds
        it = make()
        attempt(label + " sum", lambda: sum(val(item(v)) for v in it))
        print(label, "rest", list(it))
        it = make()
        attempt(label + " max", lambda: max(val(item(v)) for v in it))
        print(label, "rest", list(it))
        it = make()
        attempt(label + " failing task", lambda: sum(fails(item(v)) for v in it))
        print(label, "rest", list(it))
        # a map over it
        it = make()
        attempt(label + " sum map", lambda: sum(map(val, map(item, it))))
        print(label, "rest", list(it))
        it = make()
        attempt(label + " set map", lambda: set(map(fails, map(item, it))))
        print(label, "rest", list(it))
        # enumerate and zip over it, made in the expression
        it = make()
        attempt(label + " enumerate(it)", lambda: sum(val(item(v)) * i for i, v in enumerate(it)))
        print(label, "rest", list(it))
        it = make()
        attempt(label + " zip(it, xs)", lambda: sum(val(item(v)) + y for v, y in zip(it, xs)))
        print(label, "rest", list(it))
        # a key function over it
        it = make()
        attempt(label + " max key", lambda: max(it, key=lambda v: val(item(v))))
        print(label, "rest", list(it))
        # consumed whole: nothing left either way
        it = make()
        attempt(label + " whole", lambda: sum(double(item(v)) for v in it))
        print(label, "rest", list(it))

    # the generator expression itself, held and gone on with
    gen = (val(x) for x in xs)
    attempt("gen sum", lambda: sum(gen))
    print("gen rest", list(gen))
    gen = (fails(x) for x in xs if x % 2)
    attempt("gen filtered", lambda: statistics.mean(gen))
    print("gen rest", next(gen, "exhausted"), list(gen))
    gen = (fails(x) for x in xs)
    attempt("gen fsum", lambda: math.fsum(gen))
    print("gen rest", list(gen))
    gen = (double(x) for x in xs)
    print("gen whole", sum(gen), list(gen), next(gen, "exhausted"))
    gen = (val(x) for x in xs)
    attempt("gen dict", lambda: dict((v, v) for v in gen))
    print("gen rest", list(gen))
    # the map itself
    m = map(val, xs)
    attempt("map sum", lambda: sum(m))
    print("map rest", list(m))
    m = map(fails, xs)
    attempt("map max", lambda: max(m))
    print("map rest", next(m, "exhausted"), list(m))
    m = map(double, xs)
    print("map whole", sum(m), list(m))
    # a map over a map the program holds
    inner = map(double, xs)
    attempt("map of held map", lambda: sum(map(val, inner)))
    print("inner rest", list(inner))
    # a generator expression the consumer leaves early, then reads again
    gen = (val(x) for x in xs)
    attempt("twice", lambda: sum(gen))
    attempt("twice again", lambda: sum(gen))
    print("twice rest", list(gen))
    # a plain function in the expression: its effects stay in order
    it = iter(xs)

    def loud(x):
        print("loud", x)
        return x

    attempt("loud", lambda: sum(val(loud(x)) for x in it))
    print("loud rest", list(it))


if __name__ == "__main__":
    main()
