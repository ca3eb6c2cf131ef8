from pydron import schedule, functional

class M:
    @staticmethod
    @functional
    def sq(x):
        return x * x

    @functional
    def mul(self, x):
        return x * self.k

    def __init__(self, k):
        self.k = k

@schedule
def main():
    m = M(4)
    return [M.sq(i) for i in range(3)], [m.mul(i) for i in range(3)]

if __name__ == "__main__":
    print(main())
