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
    out = []
    for op in range(12):
        v = sq(6)
        w = add(1, 2)
        if op == 0: v += w
        elif op == 1: v -= w
        elif op == 2: v *= w
        elif op == 3: v /= w
        elif op == 4: v //= w
        elif op == 5: v %= w
        elif op == 6: v **= w
        elif op == 7: v <<= w
        elif op == 8: v >>= w
        elif op == 9: v &= w
        elif op == 10: v |= w
        else: v ^= w
        out.append(v)
    return out

if __name__ == "__main__":
    print(main())
