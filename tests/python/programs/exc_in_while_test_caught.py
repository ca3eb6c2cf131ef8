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
def check(i):
    if i == 3:
        raise RuntimeError("stop at 3")
    return True

@schedule
def main():
    i = 0
    try:
        while check(i):
            i += 1
    except RuntimeError as e:
        print("caught", e, i)
    return i

if __name__ == "__main__":
    print(main())
