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
def main(a, /, b, *, c=sq(2) if False else 4, **rest):
    return add(a, b), c, sorted(rest)

if __name__ == "__main__":
    print(main(1, 2, d=1, e=2), main(1, b=5, c=0))
