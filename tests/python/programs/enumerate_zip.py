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
    xs = [sq(i) for i in range(5)]
    ys = [add(i, 1) for i in range(5)]
    pairs = []
    for i, (a, b) in enumerate(zip(xs, ys)):
        pairs.append((i, add(a, b)))
    return pairs

if __name__ == "__main__":
    print(main())
