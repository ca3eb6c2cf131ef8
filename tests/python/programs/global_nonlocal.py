from pydron import schedule, functional

COUNTER = 0
RESULTS = []

@functional
def sq(x):
    return x * x

def show():
    print("global", COUNTER, RESULTS)

@schedule
def main():
    global COUNTER
    total = 0
    def bump(v):
        nonlocal total
        total += v
    for i in range(4):
        COUNTER = sq(i)
        RESULTS.append(sq(i + 1))
        bump(i)
    show()
    return COUNTER, total

if __name__ == "__main__":
    print(main())
    print(RESULTS)
