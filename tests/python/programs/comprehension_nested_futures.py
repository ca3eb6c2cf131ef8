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
    m = [[add(i, j) for j in range(3)] for i in range(3)]
    flat = [x for row in m for x in row if x % 2 == 0]
    return m, flat

if __name__ == "__main__":
    print(main())
