from pydron import schedule, functional

import time

@functional
def sq(x):
    return x * x

@functional
def slow_fail(msg):
    time.sleep(0.1)
    raise ValueError(msg)

@functional
def fail(msg):
    raise ValueError(msg)

@functional
def ident(x):
    return x

@schedule
def main():
    lst = []
    for i in range(3):
        lst.append(sq(i))
    d = {"lst": lst, "t": (lst, ident("x"))}
    print(d)
    print(lst, *lst)
    return d["t"][1]

if __name__ == "__main__":
    print(main())
