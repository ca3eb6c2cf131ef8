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

TOTAL = 0

@schedule
def main():
    global TOTAL
    for i in range(5):
        TOTAL += sq(i)
    return TOTAL

if __name__ == "__main__":
    print(main(), TOTAL)
