from pydron import schedule, functional

@functional
def evens(n):
    return list(i for i in range(n) if i % 2 == 0)

@schedule
def main():
    return [evens(n) for n in (3, 6)]

if __name__ == "__main__":
    print(main())
