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

class CM:
    def __enter__(self):
        print("enter")
    def __exit__(self, t, v, tb):
        print("exit", t.__name__ if t else None)
        return False

@schedule
def main():
    with CM():
        x = sq(2)
        fail("inside with")
        print("not here")
    return x

if __name__ == "__main__":
    main()
