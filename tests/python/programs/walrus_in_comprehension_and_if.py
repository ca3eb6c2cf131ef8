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
    if (n := sq(4)) > 10:
        out = [y for i in range(6) if (y := sq(i)) > n]
    else:
        out = []
    return n, out, y

if __name__ == "__main__":
    print(main())
