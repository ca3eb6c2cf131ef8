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
    a = list(map(sq, range(5)))
    b = list(filter(lambda v: v % 2, map(sq, range(6))))
    return a, b

if __name__ == "__main__":
    print(main())
