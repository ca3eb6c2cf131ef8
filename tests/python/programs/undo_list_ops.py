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
def work(lst):
    lst.append(sq(1))
    x = slow_fail("list")
    lst.append(sq(2))
    lst.insert(0, sq(3))
    lst.pop(1)
    lst.extend([sq(4), sq(5)])
    lst.reverse()
    lst[0] = "changed"
    del lst[1]
    lst += [sq(6)]
    return x

def main():
    lst = ["a", "b", "c"]
    try:
        work(lst)
    except ValueError:
        print("caught")
    print(lst)

if __name__ == "__main__":
    main()
