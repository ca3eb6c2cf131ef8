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
def ratio(a, b):
    return a / b

@schedule
def main():
    vals = [ratio(i, 7) for i in range(1, 4)]
    for v in vals:
        print(f"{v:.4f} {v!r:>25} {v:e}")
    return f"{vals}"

if __name__ == "__main__":
    print(main())
