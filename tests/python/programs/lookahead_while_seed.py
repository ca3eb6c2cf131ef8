# The seed's loop: while f(x): x = g(x); s += h(x)
from pydron import schedule, functional


@functional
def f(x):
    return x < 40


@functional
def g(x):
    return x + 3


@functional
def h(x):
    return x * x % 7


@schedule
def main(x):
    s = 0
    steps = 0
    while f(x):
        x = g(x)
        s += h(x)
        steps += 1
        print("step", steps, s)
    return x, s, steps


@schedule
def fstring_order():
    lst = [1]
    a = f"{lst}{lst.append(2)}{lst}"
    b = f"{g(1)}-{h(g(2))!s:>5}-{'lit'!r}"
    return a, b


if __name__ == "__main__":
    print(main(0))
    print(fstring_order())
