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
    f = lambda x: fail("lam") if x > 1 else sq(x)
    out = [f(0), f(1)]
    try:
        out.append(f(2))
    except ValueError as e:
        out.append(str(e))
    return out

if __name__ == "__main__":
    print(main())
