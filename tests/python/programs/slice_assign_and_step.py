from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@functional
def add(a, b):
    return a + b

@functional
def fail(msg):
    raise ValueError(msg)

@functional
def ident(x):
    return x

@schedule
def main():
    xs = [sq(i) for i in range(10)]
    xs[::2] = [ident(0)] * 5
    ys = xs[1::3]
    xs[2:4] = []
    return xs, ys, xs[-1], xs[-3:]

if __name__ == "__main__":
    print(main())
