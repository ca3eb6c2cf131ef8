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
    a = fail("base failed")
    b = add(a, 1)
    c = add(b, 2)
    return c

if __name__ == "__main__":
    main()
