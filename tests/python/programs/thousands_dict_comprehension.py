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
    d = {i: sq(i) for i in range(2000)}
    return sum(d.values()), d[1999]

if __name__ == "__main__":
    print(main())
