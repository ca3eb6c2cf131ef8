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
def div(a, b):
    return a // b

@schedule
def main():
    results = [div(10, b) for b in (5, 2, 0, 1)]
    print("submitted")
    return results

if __name__ == "__main__":
    print(main())
