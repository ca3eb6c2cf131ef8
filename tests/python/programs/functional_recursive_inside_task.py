from pydron import schedule, functional

@functional
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

@schedule
def main():
    return [fib(i) for i in range(15)]

if __name__ == "__main__":
    print(main())
