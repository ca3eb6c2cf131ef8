from pydron import schedule, functional

@functional
def f(x):
    return x < 50

@functional
def g(x):
    return x + 7

@functional
def h(x):
    return x * 3

@schedule
def main(x):
    s = 0
    while f(x):
        x = g(x)
        s += h(x)
    return x, s

if __name__ == "__main__":
    print(main(1))
