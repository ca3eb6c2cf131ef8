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
def total(*xs, scale=1):
    s = 0
    for x in xs:
        s += sq(x)
    return s * scale

if __name__ == "__main__":
    print(total(1, 2, 3), total(*range(5), scale=2))
