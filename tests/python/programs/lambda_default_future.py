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
    k = sq(3)
    f = lambda x, k=k: x + k
    def g(x, scale=add(1, 1)):
        return x * scale
    return f(1), g(5), sorted([3, 1, 2], key=lambda v: (v - k) ** 2)

if __name__ == "__main__":
    print(main())
