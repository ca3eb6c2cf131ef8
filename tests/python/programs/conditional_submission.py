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
    for i in range(10):
        if i % 3 == 0:
            out.append(sq(i))
        elif i % 3 == 1:
            out.append(add(i, 100))
    return out

if __name__ == "__main__":
    print(main())
