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
    out = []
    for i in range(6):
        v = sq(i)
        out.append(add(v, 1) if v % 2 else ident(v))
    return out

if __name__ == "__main__":
    print(main())
