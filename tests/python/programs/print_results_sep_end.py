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

import sys

@schedule
def main():
    for i in range(4):
        print(sq(i), add(i, 1), sep=" | ", end=" ;\n")
    sys.stdout.write(f"write {sq(9)}\n")
    print(*[sq(i) for i in range(3)])

if __name__ == "__main__":
    main()
