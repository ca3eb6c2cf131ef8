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
    d = {}
    for i in range(4):
        d[sq(i)] = add(i, 10)
    return d, d[9]

if __name__ == "__main__":
    print(main())
