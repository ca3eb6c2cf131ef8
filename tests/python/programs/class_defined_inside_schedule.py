from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@schedule
def main():
    class Local:
        base = 10
        def __init__(self, v):
            self.v = v
        def get(self):
            return self.v + self.base
    objs = [Local(sq(i)) for i in range(3)]
    return [o.get() for o in objs]

if __name__ == "__main__":
    print(main())
