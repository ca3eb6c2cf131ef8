from pydron import schedule, functional

@functional
def trio(x):
    return (x, x + 1, x + 2)

@functional
def many(n):
    return list(range(n))

@schedule
def main():
    a, b, c = trio(1)
    first, *middle, last = many(6)
    (p, q), r = (trio(0)[:2], 9)
    merged = [*many(2), *trio(5)]
    return a, b, c, first, middle, last, p, q, r, merged

if __name__ == "__main__":
    print(main())
