from pydron import schedule, functional

@functional
def step(x):
    return (x * 1103515245 + 12345) % 2147483648

@schedule
def main():
    x, n = 1, 0
    while n < 400:
        x = step(x)
        n += 1
    return x

if __name__ == "__main__":
    print(main())
