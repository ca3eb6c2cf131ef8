from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@functional
def apply(f, xs):
    return [f(x) for x in xs]

@schedule
def main():
    # The lambdas call a @functional: inside the task they are plain calls.
    a = apply(lambda v: sq(v) + 1, [1, 2, 3])
    def helper(v):
        return sq(v) * 10
    b = apply(helper, [4])
    return a, b

if __name__ == "__main__":
    print(main())
