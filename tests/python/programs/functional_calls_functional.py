from pydron import schedule, functional

@functional
def inner(x):
    return x + 1

@functional
def outer(x):
    return inner(x) * 2

@schedule
def main():
    return [outer(i) for i in range(4)]

if __name__ == "__main__":
    print(main())
