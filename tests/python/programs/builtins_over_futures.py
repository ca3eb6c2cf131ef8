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
    xs = [sq(i) for i in range(6)]
    return len(xs), sum(xs), max(xs), min(xs), sorted(xs, reverse=True), any(xs), all(xs), abs(add(-5, 1))

if __name__ == "__main__":
    print(main())
