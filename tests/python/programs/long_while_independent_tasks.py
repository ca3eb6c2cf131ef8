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
    while i < 1000:
        out.append(sq(i))
        i += 1
    return out[-3:], len(out)

if __name__ == "__main__":
    print(main())
