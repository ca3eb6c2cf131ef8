from pydron import schedule, functional

@functional
def f(x):
    return x

@functional
def pair(a, b):
    return a, b

class K:
    base = [1, 2, 3]
    doubled = [x * 2 for x in base]

@schedule
def main():
    out = []
    x = [f(1), f(2)]
    x[0], x[1] = x[1], x[0]
    out.append(x)
    a = b = []
    a.append(f(3))
    out.append((a is b, b))
    lst = [1, 2, 3]
    for i, v in enumerate(lst):
        lst[i] = f(v * 10)
    out.append(lst)
    out.append([[j for j in range(i)] for i in range(f(3))])
    out.append(K.doubled)
    total = 0
    def add(v):
        nonlocal total
        total += v
    for i in range(3):
        add(f(i))
    out.append(total)
    if f(True):
        import math
        out.append(math.floor(f(2.5)))
    xs = [f(i) for i in range(5)]
    for i in range(5):
        if i % 2:
            del xs[-1]
    out.append(xs)
    print(*(f(i) for i in range(3)))
    t = tuple(f(i) for i in range(6))
    out.append(t[::2])
    s = [0, 1, 2, 3]
    s[1:3] += [f(9)]
    out.append(s)
    y = z = f(1)
    y += 1
    out.append((y, z))
    out.append("ab" * f(2))
    out.append(f(1) if f(0) else f(2))
    out.append(not f(0))
    out.append(f(5).bit_length())
    out.append(sum([f(i) for i in range(3)], start=10))
    out.append(dict(a=f(1), b=[f(2)]))
    out.append(list(range(f(3))))
    m = [[f(1), f(2)], [f(3), f(4)]]
    out.append(list(zip(*m)))
    p, q = pair(f(7), 8)
    out.append(p + q)
    assert isinstance(f(1), int)
    w = {f("k"): [f(1)]}
    w[f("k")].append(f(2))
    out.append(w)
    return out

if __name__ == "__main__":
    for line in main():
        print(line)
