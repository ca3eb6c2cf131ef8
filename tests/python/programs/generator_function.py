from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@schedule
def gen(n):
    for i in range(n):
        yield sq(i)
    return "done"

@schedule
def main():
    out = []
    for v in gen(5):
        out.append(v + 1)
    return out, list(gen(3))

if __name__ == "__main__":
    print(main())
