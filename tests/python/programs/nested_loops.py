from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@functional
def add(a, b):
    return a + b

@functional
def fail(msg):
    raise ValueError(msg)

@functional
def ident(x):
    return x

@schedule
def main():
    grid = []
    for i in range(4):
        row = []
        for j in range(3):
            row.append(add(i * 10, j))
        grid.append(row)
    return grid

if __name__ == "__main__":
    print(main())
