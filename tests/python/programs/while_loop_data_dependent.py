from pydron import schedule, functional

@functional
def step(x):
    return x // 2 if x % 2 == 0 else 3 * x + 1

@schedule
def main(x):
    count = 0
    while x != 1:
        x = step(x)
        count += 1
    return count

if __name__ == "__main__":
    print(main(27))
