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
    keys = ["a", "b", "c"]
    d = dict(zip(keys, [sq(i) for i in range(3)]))
    d2 = {k: add(v, 1) for k, v in d.items()}
    d2.update({"z": sq(9)})
    d2.setdefault("y", sq(8))
    return d, d2, d2.get("z"), list(d2.keys())

if __name__ == "__main__":
    print(main())
