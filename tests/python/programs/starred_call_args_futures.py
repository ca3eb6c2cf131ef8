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

@functional
def total(*xs):
    return sum(xs)

@functional
def kw(**k):
    return sorted(k.items())

@schedule
def main():
    xs = [sq(i) for i in range(5)]
    return total(*xs), total(*[sq(2), sq(3)]), kw(**{"a": sq(1), "b": sq(2)})

if __name__ == "__main__":
    print(main())
