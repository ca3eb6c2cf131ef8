from pydron import schedule, functional

class Box:
    def __init__(self):
        self.v = 1

@functional
def inc(x):
    return x + 1

@schedule
def main():
    n = 0
    b = Box()
    lst = [0, 0, 0]
    d = {"k": 10}
    for i in range(4):
        n += inc(i)
        b.v *= inc(i)
        lst[i % 3] += inc(i)
        d["k"] -= inc(i)
    s = "a"
    s += "b"
    l2 = [1]
    l2 += [inc(5)]
    return n, b.v, lst, d, s, l2

if __name__ == "__main__":
    print(main())
