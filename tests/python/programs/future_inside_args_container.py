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
def summarize(d):
    return {k: sum(v) for k, v in d.items()}

@schedule
def main():
    d = {"a": [sq(1), sq(2)], "b": [sq(3)]}
    return summarize(d)

if __name__ == "__main__":
    print(main())
