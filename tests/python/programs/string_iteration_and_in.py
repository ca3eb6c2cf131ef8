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
def text(i):
    return "hello world"[: i + 3]

@schedule
def main():
    t = text(5)
    return [c for c in t if c in "lo"], "wor" in text(8), t.count("l")

if __name__ == "__main__":
    print(main())
