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
def maybe(i):
    return None if i % 2 else i

@schedule
def main():
    out = []
    for i in range(5):
        v = maybe(i)
        if v is None:
            out.append("none")
        elif not v:
            out.append("zero")
        else:
            out.append(v)
    return out

if __name__ == "__main__":
    print(main())
