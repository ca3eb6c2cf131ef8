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

@functional
def words(n):
    return ["w%d" % i for i in range(n)]

@schedule
def main():
    ws = words(5)
    ws.append("extra")
    ws.sort(reverse=True)
    return ws, ws.index("w3"), ws.count("w1")

if __name__ == "__main__":
    print(main())
