from pydron import schedule, functional

@functional
def ident(x):
    return x

@schedule
def count(n):
    if n == 0:
        return 0
    return count(n - 1) + 1

if __name__ == "__main__":
    print(count(300))
