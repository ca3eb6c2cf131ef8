from pydron import schedule, functional

class Cfg:
    def __init__(self):
        self.k = 1

@functional
def use(c, x):
    return c.k * x

@schedule
def main():
    c = Cfg()
    a = use(c, 10)
    c.k = 5
    b = use(c, 10)
    return a, b

if __name__ == "__main__":
    print(main())
