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
    a = sq(2)
    fail("result never used")
    b = sq(3)
    print("must not print", a, b)

if __name__ == "__main__":
    main()
