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
    a, b = sq(3), add(2, 5)
    return -a, +b, ~a, not a, a // b, a % b, a ** 2, a << 1, a >> 1, a & b, a | b, a ^ b, a / b

if __name__ == "__main__":
    print(main())
