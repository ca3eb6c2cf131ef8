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
    import math
    from functools import reduce
    vals = [sq(i) for i in range(1, 5)]
    return math.sqrt(vals[-1]), reduce(lambda a, b: a + b, vals)

if __name__ == "__main__":
    print(main())
