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
    xs = list("abcdefghij")
    out = []
    for i in range(4):
        out.append(xs[sq(i) % 10])
    xs[sq(2)] = "Z"
    return out, xs[ident(1):sq(2) + 1]

if __name__ == "__main__":
    print(main())
