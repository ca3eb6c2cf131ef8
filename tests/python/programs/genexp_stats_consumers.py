# Generator expressions and maps handed to math.fsum, math.prod and the
# statistics module's functions, which consume their data whole as sum
# does: the calls are submitted ahead, and what the program sees stays
# sequential (values, output order, which exception, the generator's state).
import math
import statistics
from fractions import Fraction

from pydron import functional, schedule


@functional
def flux(x):
    return 1.5 * x + 0.25


@functional
def ratio(x):
    return Fraction(x + 1, 3)


@functional
def fails_at(x, bad):
    if x == bad:
        raise ValueError("task %d failed" % x)
    return x + 0.5


class Loud:
    def __init__(self, v):
        self.v = v

    def __float__(self):
        print("Loud float", self.v)
        return float(self.v)


def shout(x):
    print("shout", x)
    return x


@schedule
def main():
    xs = list(range(10))
    print("mean", statistics.mean(flux(x) for x in xs))
    print("fmean", statistics.fmean(flux(x) for x in xs if x % 2))
    print("median", statistics.median(flux(x) for x in xs),
          statistics.median_low(flux(x) for x in xs), statistics.median_high(map(flux, xs)))
    print("spread", round(statistics.stdev(flux(x) for x in xs), 9),
          round(statistics.pvariance((flux(x) for x in xs), mu=7.0), 9),
          round(statistics.stdev((flux(x) for x in xs), xbar=7.0), 9))
    print("quantiles", statistics.quantiles((flux(x) for x in xs), n=4),
          statistics.quantiles((flux(x) for x in xs), n=3, method="inclusive"))
    print("means", round(statistics.geometric_mean(flux(x) for x in xs), 9),
          round(statistics.harmonic_mean(flux(x) for x in xs), 9))
    print("mode", statistics.mode(flux(x % 3) for x in xs),
          statistics.multimode(flux(x % 4) for x in xs))
    print("fractions", statistics.mean(ratio(x) for x in xs), statistics.median(map(ratio, xs)))
    print("fsum", math.fsum(flux(x) / 7 for x in xs), math.fsum(map(flux, xs)))
    print("prod", math.prod(flux(x) for x in range(5)),
          math.prod((ratio(x) for x in range(4)), start=2))
    print("list", statistics.mean([flux(x) for x in xs]))

    # a task fails: the first failing item's exception, in order
    try:
        print(statistics.mean(fails_at(x, 6) for x in xs))
    except ValueError as e:
        print("caught", e)
    try:
        print(math.fsum(fails_at(x, 2) for x in xs))
    except ValueError as e:
        print("caught", e)
    # the consumer fails
    try:
        print(statistics.mean(flux(x) for x in xs if x > 99))
    except statistics.StatisticsError as e:
        print("caught StatisticsError", e)
    try:
        print(statistics.mean(flux(x) if x != 3 else "s" for x in xs))
    except TypeError as e:
        print("caught TypeError", e)
    try:
        print(math.fsum(flux(x) if x != 4 else "s" for x in xs))
    except TypeError as e:
        print("caught TypeError", e)
    # effects in the items and the consumer's own, in order
    print("loud", math.fsum(Loud(flux(x)) for x in range(3)))
    print("plain function", statistics.mean(shout(flux(x)) for x in range(3)))

    # the generator is left as the sequential program leaves it
    gen = (flux(x) for x in range(5))
    print("consumed", statistics.mean(gen), list(gen))
    it = iter(range(8))
    print("shared iterator", statistics.median(flux(x) for x in it if x < 5), list(it))
    gen = (flux(x) for x in range(5))
    print("next first", next(gen), math.fsum(gen))
    return "done"


if __name__ == "__main__":
    print(main())
