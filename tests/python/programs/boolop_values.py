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
    a = ident(0) or ident("fallback")
    b = ident(3) and sq(4)
    c = ident("") or ident(None) or ident([])
    return a, b, c

if __name__ == "__main__":
    print(main())
