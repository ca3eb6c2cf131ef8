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
def fill(out, n):
    for i in range(n):
        out.append(sq(i))
    out[0] = ident("first")

def main():
    out = ["pre"]
    fill(out, 4)
    print(out)
    fill(out, 2)
    return out

if __name__ == "__main__":
    print(main())
