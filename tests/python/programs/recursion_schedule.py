from pydron import schedule, functional

@functional
def leaf(n):
    return n

@schedule
def fib(n):
    if n < 2:
        return leaf(n)
    return fib(n - 1) + fib(n - 2)

if __name__ == "__main__":
    print(fib(12))
