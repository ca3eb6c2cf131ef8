from pydron import schedule, functional

@functional
def twice(x):
    return 2 * x

@schedule
def main():
    base = twice(5)
    add = lambda v: v + base
    mul = lambda v, k=3: v * k
    xs = sorted([3, 1, 2], key=lambda v: -v)
    return add(1), mul(2), xs, list(map(add, [1, 2]))

if __name__ == "__main__":
    print(main())
