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
def inner(i):
    if i == 2:
        return fail(f"inner {i}")
    return sq(i)

@schedule
def main():
    out = []
    for i in range(4):
        out.append(inner(i))
    print("not printed")
    return out

if __name__ == "__main__":
    main()
