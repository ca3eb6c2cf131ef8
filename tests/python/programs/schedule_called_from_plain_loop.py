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
def work(i):
    return add(sq(i), 1)

if __name__ == "__main__":
    print([work(i) for i in range(6)])
