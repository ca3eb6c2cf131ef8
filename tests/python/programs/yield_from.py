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
def inner(n):
    for i in range(n):
        yield sq(i)

@schedule
def outer():
    yield from inner(3)
    yield from [ident("a"), ident("b")]

if __name__ == "__main__":
    print(list(outer()))
