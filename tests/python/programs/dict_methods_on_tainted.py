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
    d = {}
    for i in range(4):
        d[f"k{i}"] = sq(i)
    v = d.pop("k1")
    d.update(z=ident("zz"))
    d.setdefault("k0", "unused")
    items = sorted(d.items())
    d.clear()
    return v, items, d

if __name__ == "__main__":
    print(main())
