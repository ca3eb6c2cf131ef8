from pydron import schedule, functional

@functional
def chunk(n):
    return [n] * n

@schedule
def main():
    xs = list(range(8))
    xs[2:4] = chunk(3)
    print(xs)
    xs[::4] = chunk(2)
    xs[::5] = chunk(4)
    return xs

if __name__ == "__main__":
    print(main())
