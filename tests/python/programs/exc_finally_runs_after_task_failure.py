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
    try:
        out.append(sq(1))
        out.append(fail("x"))
        out.append(sq(2))
    finally:
        print("finally sees", out)

if __name__ == "__main__":
    main()
