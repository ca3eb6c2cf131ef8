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
def word(i):
    return "abcdefg"[i] * (i + 1)

@schedule
def main():
    ws = [word(i) for i in range(4)]
    s = "-".join(ws)
    up = ws[2].upper()
    return s, up, "%s/%d" % (ws[0], len(ws)), "{}|{}".format(ws[1], ws[3]), s.split("-")

if __name__ == "__main__":
    print(main())
