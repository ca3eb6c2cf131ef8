# enumerate() and zip() over a map or a generator of the program are stepped
# lazily by pydron's loops and consumers (placeholders, every task submitted
# first) and as values by everything else (next(), code that is not
# translated). A program that reads one in parts - next(e) to skip a header,
# then a loop; a loop left with break, then a comprehension - must see one
# count and one position, as with Python's own enumerate and zip.
from pydron import functional, schedule


@functional
def val(x):
    return x * 10


def gen(n):
    for i in range(n):
        yield i + 100


def rest_of(it):
    """the program's own helper (not translated): values"""
    return [v for v in it]


@schedule
def main():
    xs = list(range(8))
    e = enumerate(map(val, xs))
    print("next", next(e), "loop", [p for p in e])
    e = enumerate(map(val, xs), 5)
    print("start", next(e), next(e), list(e))
    e = enumerate(map(val, xs))
    for i, v in e:
        if i == 2:
            break
    print("after break", next(e), [(i, v) for i, v in e])
    e = enumerate(map(val, xs))
    next(e)
    print("sum after next", sum(v for i, v in e))
    e = enumerate(gen(6))
    next(e)
    print("gen", list(e))
    e = enumerate(map(val, xs))
    next(e)
    print("helper", rest_of(e))

    z = zip(xs, map(val, xs))
    print("zip next", next(z), "loop", [(a, b) for a, b in z])
    z = zip(map(val, xs), "abcdefgh", range(100, 108))
    next(z)
    next(z)
    print("zip three", list(z))
    z = zip(xs, map(val, xs))
    for a, b in z:
        if a == 3:
            break
    print("zip after break", next(z), sum(b for a, b in z))
    z = zip(xs, gen(5))
    next(z)
    print("zip gen", [p for p in z])
    z = zip(map(val, xs), xs[:5])
    print("zip short", list(z), list(xs))
    z = zip(map(val, xs), xs, strict=True)
    next(z)
    print("zip strict", [p for p in z])
    ez = enumerate(zip(xs, map(val, xs)))
    next(ez)
    print("enumerate zip", [(i, a, b) for i, (a, b) in ez])
    ze = zip(enumerate(map(val, xs)), xs)
    next(ze)
    print("zip enumerate", list(ze))
    z = zip(xs, map(val, xs))
    next(z)
    print("helper zip", rest_of(z))


if __name__ == "__main__":
    main()
