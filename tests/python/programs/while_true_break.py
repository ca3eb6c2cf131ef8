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
    i, acc = 0, []
    while True:
        v = sq(i)
        if v > 30:
            break
        acc.append(v)
        i += 1
    return acc

if __name__ == "__main__":
    print(main())
