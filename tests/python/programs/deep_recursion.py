from pydron import schedule, functional

@functional
def one(x):
    return 1

@schedule
def depth(n):
    if n == 0:
        return one(0)
    return depth(n - 1) + one(n)

if __name__ == "__main__":
    print(depth(150))
