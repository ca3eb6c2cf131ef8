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
def gen(n):
    try:
        for i in range(n):
            yield sq(i)
    finally:
        print("generator closed")

@schedule
def main():
    out = []
    for v in gen(10):
        if v > 10:
            break
        out.append(v)
    return out

if __name__ == "__main__":
    print(main())
