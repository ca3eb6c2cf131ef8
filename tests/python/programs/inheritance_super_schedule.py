from pydron import schedule, functional

@functional
def sq(x):
    return x * x

class Base:
    def compute(self, x):
        return [x]

class Child(Base):
    @schedule
    def compute(self, x):
        return super().compute(x) + [sq(x)]

if __name__ == "__main__":
    print(Child().compute(7))
