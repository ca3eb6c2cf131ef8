# locals(), vars() and dir() show the program's names and values only: no
# internal name, no placeholder; globals() holds nothing of pydron's.
from pydron import schedule, functional


@functional
def sq(x):
    return x * x


@schedule
def main(n):
    v = sq(n)
    print(sorted(locals()), locals()["v"], vars()["n"], dir())

    def helper(a):
        b = sq(a)
        return sorted(locals().items())

    print(helper(2))
    total = 0
    try:
        for i in range(3):
            total = total + sq(i)
        print(sorted(locals()), total)
    except ValueError:
        pass
    with open(__file__) as fh:
        first = fh.readline().strip()
        print(sorted(locals()))
    d = {"x": sq(5)}
    print(locals()["d"], "{v} {n}".format(**locals()))
    print(sorted(k for k in globals() if "pydron" in k.lower()))
    return v


if __name__ == "__main__":
    print(main(3))
