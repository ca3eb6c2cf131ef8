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
    vals = [sq(i) for i in range(16)]
    while len(vals) > 1:
        vals = [add(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]
    return vals[0]

if __name__ == "__main__":
    print(main())
