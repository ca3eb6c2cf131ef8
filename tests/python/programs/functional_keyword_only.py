from pydron import schedule, functional

@functional
def f(a, *, scale=1, offset=0):
    return a * scale + offset

@schedule
def main():
    return [f(i, scale=2), f(i, offset=i), f(i)][::-1] if (i := 3) else None

if __name__ == "__main__":
    print(main())
