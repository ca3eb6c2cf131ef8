from pydron import schedule, functional

@functional
def ident(x):
    return x

@schedule
def main():
    fs = [lambda: i for i in range(3)]
    gs = [lambda i=i: i for i in range(3)]
    v = ident(10)
    def get():
        return v
    v = ident(20)
    return [f() for f in fs], [g() for g in gs], get()

if __name__ == "__main__":
    print(main())
