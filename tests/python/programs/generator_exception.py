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
def gen():
    yield sq(1)
    yield fail("gen failed")
    yield sq(2)

@schedule
def main():
    out = []
    try:
        for v in gen():
            out.append(v)
    except ValueError as e:
        out.append(str(e))
    return out

if __name__ == "__main__":
    print(main())
