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
def deep_sum(d):
    return sum(sum(v) for v in d.values())

@schedule
def main():
    d = {"a": [1, 2], "b": [3]}
    s1 = deep_sum(d)
    d["a"].append(100)
    s2 = deep_sum(d)
    d["b"][0] = -3
    return s1, s2, deep_sum(d)

if __name__ == "__main__":
    print(main())
