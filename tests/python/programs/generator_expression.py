from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@schedule
def main():
    total = sum(sq(i) for i in range(10))
    biggest = max(sq(i) - 3 * i for i in range(10))
    lst = list(sq(i) for i in range(4))
    return total, biggest, lst

if __name__ == "__main__":
    print(main())
