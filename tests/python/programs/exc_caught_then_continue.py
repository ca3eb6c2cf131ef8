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
    for i in range(6):
        try:
            v = fail(str(i)) if i % 2 else sq(i)
            total += v
        except ValueError as e:
            total -= int(str(e))
    return total

if __name__ == "__main__":
    print(main())
