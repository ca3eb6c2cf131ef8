from pydron import schedule, functional

@functional
def make_adder(k):
    return lambda x: x + k

@schedule
def main():
    add5 = make_adder(5)
    return add5(1), [make_adder(i)(10) for i in range(3)]

if __name__ == "__main__":
    print(main())
