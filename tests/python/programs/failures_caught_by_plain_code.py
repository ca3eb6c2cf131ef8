# A task's exception, raised in code of the @schedule body (a lambda, a nested
# function) and caught by a plain function of the program (a retry helper, a
# "try this, else that" wrapper): handled there, it must not come back at the
# next line that waits, in every shape the failure is read in.
import math
import statistics

from pydron import functional, schedule


@functional
def fails(x):
    if x == 5:
        raise ValueError("item %d failed" % x)
    return x + 0.5


@functional
def double(x):
    return 2 * x


def attempt(label, consume):
    """the program's own helper: not translated"""
    try:
        r = consume()
        print(label, "=", r)
        return r
    except ValueError as e:
        print(label, "handled", e)
        return None


def retry(fn, *args):
    """try fn, then fn on the next argument"""
    for a in args:
        try:
            return fn(a)
        except ValueError as e:
            print("retry after", e)
    return None


@schedule
def main():
    xs = list(range(10))
    attempt("call", lambda: fails(5))
    print("after call", double(1))
    attempt("arith", lambda: fails(5) * 2 + 1)
    print("after arith", double(2))
    attempt("genexp sum", lambda: sum(fails(x) for x in xs))
    print("after genexp sum", double(3))
    attempt("map sum", lambda: sum(map(fails, xs)))
    print("after map sum", double(4))
    attempt("list sum", lambda: sum([fails(x) for x in xs]))
    print("after list sum", double(5))
    attempt("max key", lambda: max(xs, key=lambda x: fails(x)))
    print("after max key", double(6))
    attempt("sorted key", lambda: sorted(xs, key=fails))
    print("after sorted key", double(7))
    attempt("mean", lambda: statistics.mean(fails(x) for x in xs))
    print("after mean", double(8))
    attempt("fsum map", lambda: math.fsum(map(fails, xs)))
    print("after fsum", double(9))
    attempt("sqrt", lambda: math.sqrt(fails(5)))
    print("after sqrt", double(10))
    attempt("format", lambda: "%.1f" % fails(5))
    print("after format", double(11))
    attempt("compare", lambda: fails(5) > 3)
    print("after compare", double(12))
    attempt("index", lambda: [fails(x) for x in xs][5])
    print("after index", double(13))

    def nested():
        total = 0
        for x in xs:
            total += fails(x)
        return total

    attempt("nested loop", nested)
    print("after nested", double(14))
    print("retry", retry(lambda x: fails(x) + 1, 5, 6))
    print("after retry", double(15))
    print("retry genexp", retry(lambda k: sum(fails(x) for x in range(k)), 9, 4))
    print("after retry genexp", double(16))
    # the generator expression itself, then read on by the program
    gen = (fails(x) for x in xs)
    attempt("held gen", lambda: sum(gen))
    print("held gen rest", list(gen))
    m = map(fails, xs)
    attempt("held map", lambda: sum(m))
    print("held map rest", list(m))
    # the item is an operation on the task's value, or holds it
    gen = (fails(x) > 3 for x in xs)
    attempt("held compare", lambda: sum(gen))
    print("held compare rest", list(gen))
    gen = ((x, fails(x)) for x in xs)
    attempt("held pair", lambda: max(gen))
    print("held pair rest", list(gen))
    attempt("pairs", lambda: sum(x + y for x, y in ((x, fails(x)) for x in xs)))
    print("after pairs", double(17))
    attempt("all", lambda: all(fails(x) * 2 < 100 for x in xs))
    print("after all", double(18))
    attempt("any", lambda: any(fails(x) > 50 for x in xs))
    print("after any", double(19))


if __name__ == "__main__":
    main()
