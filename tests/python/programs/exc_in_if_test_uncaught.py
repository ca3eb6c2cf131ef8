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
    print("start")
    if fail("in test"):
        print("no")
    print("never")

if __name__ == "__main__":
    main()
