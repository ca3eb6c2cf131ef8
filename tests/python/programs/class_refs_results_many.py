from pydron import schedule, functional

import dataclasses

# Many results that are instances of script classes (each names its class
# by reference; a process without the class loads it from the reference),
# handed back to the driver and on to later tasks, possibly on another
# worker; a class made inside a task (unknown to the driver) comes back
# too. The driver's class changes between calls: a task that names the
# class sees it as of its call, results keep the driver's own class.
SCALE = 1


@dataclasses.dataclass(frozen=True)
class Star:
    flux: float
    name: str

    def mag(self):
        return round(-2.5 * self.flux * SCALE, 3)


class Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b

    def total(self):
        return self.a.flux + self.b.flux


@functional
def observe(i):
    return Star(i * 0.5, f"s{i}")


@functional
def pair(a, b):
    return Pair(a, b)


@functional
def brightest(stars):
    best = max(stars, key=lambda s: s.flux)
    return best, isinstance(best, Star), best.mag(), type(best).__name__


@functional
def make_local(k):
    class Made:
        def __init__(self, k):
            self.k = k

        def twice(self):
            return 2 * self.k
    return Made(k)


@functional
def use_made(m):
    return m.twice(), type(m).__name__


@schedule
def main():
    global SCALE
    stars = [observe(i) for i in range(300)]
    pairs = [pair(stars[i], stars[i + 1]) for i in range(0, 300, 2)]
    SCALE = 2
    b = brightest(stars)
    made = [make_local(i) for i in range(50)]
    used = [use_made(m) for m in made]
    print(b[1:], b[0] == Star(149.5, "s299"), type(b[0]) is Star, b[0].mag())
    print(all(type(s) is Star for s in stars), sum(s.flux for s in stars), stars[7])
    print(all(type(p) is Pair for p in pairs), sum(p.total() for p in pairs))
    print(sum(m.twice() for m in made), {type(m).__name__ for m in made},
          len({type(m) for m in made}) >= 1, sum(u[0] for u in used), {u[1] for u in used})


if __name__ == "__main__":
    main()
