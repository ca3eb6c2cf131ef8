from pydron import schedule, functional

@functional
def part(xs, p):
    return [x for x in xs if x < p], [x for x in xs if x == p], [x for x in xs if x > p]

@schedule
def qsort(xs):
    if len(xs) <= 1:
        return xs
    lo, eq, hi = part(xs, xs[len(xs) // 2])
    return qsort(lo) + eq + qsort(hi)

if __name__ == "__main__":
    print(qsort([5, 3, 9, 1, 5, 7, 2, 8, 0, 4, 6]))
