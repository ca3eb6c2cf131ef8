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
    try:
        x = sq(3)
    except ValueError:
        print("no")
    else:
        print("else", x)
        fail("from else")

if __name__ == "__main__":
    main()
