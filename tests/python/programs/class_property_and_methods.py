from pydron import schedule, functional

class Acc:
    def __init__(self):
        self.items = []

    @property
    def total(self):
        return sum(self.items)

    def add(self, v):
        self.items.append(v)

@functional
def sq(x):
    return x * x

@schedule
def main():
    a = Acc()
    for i in range(5):
        a.add(sq(i))
    return a.total, a.items

if __name__ == "__main__":
    print(main())
