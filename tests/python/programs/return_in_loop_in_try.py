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
    try:
        for i in range(10):
            if sq(i) > 20:
                return i
    finally:
        print("finally")

if __name__ == "__main__":
    print(main())
