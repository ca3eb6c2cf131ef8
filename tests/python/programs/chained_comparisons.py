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
    a, b, c = sq(1), sq(2), sq(3)
    return a < b < c, a == 1 != b, b >= c, a is not None, c in [9, 10], a not in (b, c)

if __name__ == "__main__":
    print(main())
