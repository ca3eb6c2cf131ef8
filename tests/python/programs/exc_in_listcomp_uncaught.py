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
    xs = [sq(i) for i in range(3)]
    ys = [fail(f"item {i}") if i == 2 else sq(i) for i in range(4)]
    print("not printed", xs)
    return ys

if __name__ == "__main__":
    main()
