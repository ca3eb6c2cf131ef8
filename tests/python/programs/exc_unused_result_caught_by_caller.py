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
def work(log):
    log.append(sq(2))
    fail("unused")
    log.append(sq(3))

def main():
    log = []
    try:
        work(log)
    except ValueError as e:
        print("caller caught", e)
    print(log)

if __name__ == "__main__":
    main()
