from pydron import schedule, functional

class Pipeline:
    def __init__(self, k):
        self.k = k

    @functional
    def scale(self, x):
        return x * self.k

    @schedule
    def run(self, xs):
        out = []
        for x in xs:
            out.append(self.scale(x))
        return out

    @staticmethod
    @schedule
    def static_run(xs):
        return [add1(x) for x in xs]

    @classmethod
    @schedule
    def cls_run(cls, xs):
        return cls(3).run(xs)

@functional
def add1(x):
    return x + 1

if __name__ == "__main__":
    p = Pipeline(2)
    print(p.run([1, 2, 3]))
    print(Pipeline.static_run([1, 2]))
    print(Pipeline.cls_run([4]))
