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
    i, s = 0, 0
    while i < 300:
        s = add(s, i)
        if i % 100 == 0:
            print("at", i, s)
        i += 1
    return s

if __name__ == "__main__":
    print(main())
