from pydron import schedule, functional

@functional
def f(a, b=2, *args, c=3, d, **kw):
    return (a, b, args, c, d, sorted(kw.items()))

@schedule
def main(x, y=5, *rest, z=7, **extra):
    r1 = f(x, d=1)
    r2 = f(x, y, *rest, c=z, d=2, **extra)
    r3 = f(*[1, 2, 3], **{"d": 4, "q": 5})
    return [r1, r2, r3]

if __name__ == "__main__":
    print(main(1, 2, 3, 4, z=9, w=10))
    print(main(0))
