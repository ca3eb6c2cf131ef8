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
    i, out = 0, []
    while i < 10:
        i += 1
        if ident(i) % 2:
            continue
        out.append(sq(i))
    return out

if __name__ == "__main__":
    print(main())
