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
def gen():
    i = 0
    while True:
        yield sq(i)
        i += 1

@schedule
def main():
    g = gen()
    first = [next(g) for _ in range(4)]
    return first

if __name__ == "__main__":
    print(main())
