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
    return sq(2), add(1, 2), [ident("x")], {"k": sq(5)}

if __name__ == "__main__":
    print(main())
