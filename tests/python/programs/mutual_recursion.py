from pydron import schedule, functional

@functional
def ident(x):
    return x

@schedule
def is_even(n):
    if n == 0:
        return ident(True)
    return is_odd(n - 1)

@schedule
def is_odd(n):
    if n == 0:
        return ident(False)
    return is_even(n - 1)

if __name__ == "__main__":
    print([is_even(i) for i in range(8)])
