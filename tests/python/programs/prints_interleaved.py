from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@schedule
def main():
    total = 0
    for i in range(5):
        v = sq(i)
        print("step", i)
        total += v
        print("total so far", total)
    return total

if __name__ == "__main__":
    print(main())
