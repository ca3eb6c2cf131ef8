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

class P:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def norm2(self):
        return self.x ** 2 + self.y ** 2

@functional
def mk(i):
    return P(i, i + 1)

@schedule
def main():
    ps = [mk(i) for i in range(4)]
    return [p.x for p in ps], ps[2].norm2(), sum(p.y for p in ps)

if __name__ == "__main__":
    print(main())
