from pydron import schedule, functional

@functional
def boom(x):
    raise RuntimeError("must never run")

@functional
def ok(x):
    return x

@schedule
def main():
    a = ok(0) and boom(1)
    b = ok(1) or boom(2)
    c = ok(5) if ok(1) else boom(3)
    if ok(0):
        boom(4)
    for i in range(3):
        if i == 1:
            break
    else:
        boom(5)
    return a, b, c

if __name__ == "__main__":
    print(main())
