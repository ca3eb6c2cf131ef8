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
def enc(s):
    return s.encode() * 2

@schedule
def main():
    bs = [enc(c) for c in "xyz"]
    return b"".join(bs), bs[0][1:], len(bs[2])

if __name__ == "__main__":
    print(main())
