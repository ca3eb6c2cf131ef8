from pydron import schedule, functional

@functional
def add(a, b):
    return a + b

@schedule
def main():
    x = add(1, 2)
    y = add(x, 10)
    return y

if __name__ == "__main__":
    print(main())
