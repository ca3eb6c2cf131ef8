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
    total = 0
    parts = [add(i, i) for i in range(2500)]
    for p in parts:
        total += p
    return total

if __name__ == "__main__":
    print(main())
