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
def mixed(i):
    return [1, "s", 2.5, None, (1,)][i]

@schedule
def main():
    out = []
    for i in range(5):
        v = mixed(i)
        out.append((type(v).__name__, isinstance(v, (int, float))))
    return out

if __name__ == "__main__":
    print(main())
