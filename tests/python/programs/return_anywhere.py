from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@schedule
def find(xs, target):
    for x in xs:
        if sq(x) == target:
            return x
    return None

@schedule
def main():
    return [find(range(10), 49), find(range(10), 50), find([], 0)]

if __name__ == "__main__":
    print(main())
