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
def acc():
    total = 0
    while True:
        v = yield total
        total = add(total, v)

def main():
    g = acc()
    next(g)
    outs = [g.send(i) for i in range(5)]
    return outs

if __name__ == "__main__":
    print(main())
