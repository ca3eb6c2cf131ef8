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
def mod(x, m):
    return x % m

@schedule
def main():
    s = set()
    for i in range(20):
        s.add(mod(i, 6))
    t = {mod(i, 4) for i in range(20)}
    return sorted(s), sorted(t), sorted(s & t), 5 in s

if __name__ == "__main__":
    print(main())
