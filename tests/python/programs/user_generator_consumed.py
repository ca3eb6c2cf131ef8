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

def numbers(n):
    for i in range(n):
        print("producing", i)
        yield i

@schedule
def main():
    out = []
    for i in numbers(3):
        out.append(sq(i))
    return out

if __name__ == "__main__":
    print(main())
