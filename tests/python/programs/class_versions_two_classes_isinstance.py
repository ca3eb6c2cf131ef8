from pydron import schedule, functional

import enum

# Arguments of several script classes in one call, where one class's methods
# name another (isinstance, construction) and the function names none of
# them: in a task, one class is one class, whichever way it arrived. Also an
# enum member, a class object itself, a subclass of a builtin and a class
# made inside the program, as arguments, over many calls.


class Unit(enum.Enum):
    M = 1
    KM = 1000

    def factor(self):
        return self.value


class Sample:
    def __init__(self, v):
        self.v = v


class Model:
    scale = 2

    def fit(self, data):
        ok = all(isinstance(d, Sample) for d in data)
        return ok, Sample(sum(d.v for d in data) * self.scale)


class Bag(list):
    def total(self):
        return sum(self)


@functional
def run(model, data, unit, kind, bag):
    ok, s = model.fit(data)
    made = kind(3)
    return ok, s.v * unit.factor(), type(s).__name__, isinstance(made, type(data[0])), \
        bag.total(), type(bag).__name__, unit is type(unit).KM


def make_local():
    class Local:
        def __init__(self, k):
            self.k = k

        def twice(self):
            return 2 * self.k
    return Local


@functional
def use_local(obj):
    return obj.twice(), type(obj).__name__


@schedule
def main():
    m = Model()
    out = []
    for i in range(150):
        data = [Sample(i), Sample(1)]
        out.append(run(m, data, Unit.KM if i % 2 else Unit.M, Sample, Bag([i, 2])))
        if i == 70:
            Model.scale = 5
    Local = make_local()
    loc = [use_local(Local(i)) for i in range(100)]
    print(sum(o[1] for o in out), all(o[0] for o in out), {o[2] for o in out},
          all(o[3] for o in out), sum(o[4] for o in out), {o[5] for o in out},
          sum(1 for o in out if o[6]))
    print(sum(x[0] for x in loc), {x[1] for x in loc})
    r = run(m, [Sample(2)], Unit.M, Sample, Bag([1]))
    print(r)


if __name__ == "__main__":
    main()
