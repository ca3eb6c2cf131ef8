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
    x = 1
    for i in range(10):
        x = add(x, i)
    return x

if __name__ == "__main__":
    print(main())
