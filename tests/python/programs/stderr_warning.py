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

import warnings

@schedule
def main():
    v = sq(4)
    if v > 10:
        warnings.warn(f"value {v} is large")
    print("value", v)

if __name__ == "__main__":
    main()
