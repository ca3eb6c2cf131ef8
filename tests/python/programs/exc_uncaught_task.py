from pydron import schedule, functional

@functional
def boom(x):
    raise KeyError(f"missing {x}")

@functional
def fine(x):
    return x

@schedule
def main():
    a = fine(1)
    print("before", a)
    b = boom(2)
    c = fine(3)
    print("after", c)
    return b

if __name__ == "__main__":
    print(main())
