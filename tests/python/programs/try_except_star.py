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
    try:
        raise ExceptionGroup("grp", [ValueError(ident("v")), KeyError("k")])
    except* ValueError as eg:
        print("values", [str(e) for e in eg.exceptions])
    except* KeyError as eg:
        print("keys", len(eg.exceptions))
    return sq(2)

if __name__ == "__main__":
    print(main())
