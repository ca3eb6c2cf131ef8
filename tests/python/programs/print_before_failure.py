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
    print("one")
    x = sq(2)
    print("two", x)
    y = fail("boom")
    print("three")
    return y

if __name__ == "__main__":
    main()
