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

G = {"a": 1, "b": 2}

@schedule
def main():
    global G
    G["c"] = sq(3)
    del G["a"]
    snapshot = dict(G)
    del G
    return snapshot, "G" in globals()

if __name__ == "__main__":
    print(main())
