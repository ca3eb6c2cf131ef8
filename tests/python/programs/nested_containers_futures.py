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
    data = {"rows": [[sq(i), (add(i, 1), ident("t"))] for i in range(3)], "meta": {"n": sq(4)}}
    data["rows"].append([ident(None)])
    print(data)
    return data["rows"][1][1][0]

if __name__ == "__main__":
    print(main())
