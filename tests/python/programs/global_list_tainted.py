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

RESULTS = []

def report():
    return sum(RESULTS)

@schedule
def main():
    for i in range(5):
        RESULTS.append(sq(i))
    print("report", report())
    RESULTS.append(sq(10))
    return RESULTS

if __name__ == "__main__":
    print(main())
