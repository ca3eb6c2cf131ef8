from pydron import schedule, functional

@functional
def risky(x):
    if x == 3:
        raise IndexError("three")
    return x

@schedule
def inner(x):
    return risky(x) + 1

@schedule
def main():
    out = []
    for i in range(5):
        try:
            out.append(inner(i))
        except IndexError as e:
            out.append(str(e))
    return out

if __name__ == "__main__":
    print(main())
