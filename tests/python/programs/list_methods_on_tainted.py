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
    xs = []
    for i in range(6):
        xs.append(sq(i))
    xs.insert(0, ident("head"))
    last = xs.pop()
    xs.extend([sq(7), sq(8)])
    xs.reverse()
    cp = xs.copy()
    cp.append("x")
    return xs, last, cp, len(xs)

if __name__ == "__main__":
    print(main())
