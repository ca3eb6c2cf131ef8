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
    def helper(x):
        v = sq(x)
        if v > 3:
            fail(f"helper {x}")
        return v
    total = 0
    for i in range(5):
        total += helper(i)
        print("after", i, total)
    return total

if __name__ == "__main__":
    main()
