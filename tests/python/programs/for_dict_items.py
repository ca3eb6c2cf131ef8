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
    d = {"a": 1, "b": 2, "c": 3}
    out = {}
    for k, v in d.items():
        out[k] = sq(v)
    for k in out:
        print(k, out[k])
    return out

if __name__ == "__main__":
    print(main())
