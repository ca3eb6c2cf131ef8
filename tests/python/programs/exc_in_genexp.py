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
        return sum(fail("g") if i == 5 else sq(i) for i in range(10))
    except ValueError as e:
        return ("caught", str(e))

if __name__ == "__main__":
    print(main())
