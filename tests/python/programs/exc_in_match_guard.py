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
    match sq(3):
        case 9 if fail("guard"):
            return "no"
        case _:
            return "default"

if __name__ == "__main__":
    main()
