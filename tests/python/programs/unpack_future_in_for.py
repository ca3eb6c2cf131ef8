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
def pair(i):
    return (i, str(i))

@schedule
def main():
    ps = [pair(i) for i in range(4)]
    out = []
    for n, s in ps:
        out.append(s * n)
    return out, [s for n, s in ps]

if __name__ == "__main__":
    print(main())
