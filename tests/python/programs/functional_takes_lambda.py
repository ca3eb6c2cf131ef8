from pydron import schedule, functional

@functional
def apply(f, xs):
    return [f(x) for x in xs]

@schedule
def main():
    k = 3
    return apply(lambda x: x * k, [1, 2, 3]), apply(str.upper, ["a", "b"])

if __name__ == "__main__":
    print(main())
