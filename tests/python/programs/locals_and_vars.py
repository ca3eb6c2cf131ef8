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
    a = sq(2)
    b = 3
    names = sorted(k for k in locals() if not k.startswith("_"))
    return names, a + b

if __name__ == "__main__":
    print(main())
