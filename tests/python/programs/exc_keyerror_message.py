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

@functional
def lookup(d, k):
    return d[k]

@schedule
def main():
    d = {"a": 1}
    print(lookup(d, "a"))
    return lookup(d, "zz")

if __name__ == "__main__":
    main()
