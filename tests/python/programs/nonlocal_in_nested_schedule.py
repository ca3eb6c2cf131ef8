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

def outer():
    acc = []
    total = 0

    @schedule
    def step(i):
        nonlocal total
        acc.append(sq(i))
        total = total + sq(i)

    for i in range(4):
        step(i)
    return acc, total

if __name__ == "__main__":
    print(outer())
