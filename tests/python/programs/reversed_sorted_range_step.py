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
    xs = [sq(i) for i in range(10, 0, -3)]
    return sorted(xs), list(reversed(xs)), [x for x in range(0, 20, 7)]

if __name__ == "__main__":
    print(main())
