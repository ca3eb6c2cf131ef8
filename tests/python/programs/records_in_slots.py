# records_of_results.py with __slots__: @dataclass(slots=True) records
# (frozen, ordered, nested) and plain classes with __slots__ written by
# hand hold the placeholders in their slots while the tasks run; every way
# the program can look at a record must see what sequential Python sees.
import copy
import dataclasses
import json
import operator
import statistics

import numpy as np
from dataclasses import dataclass, field

from pydron import functional, schedule


@functional
def measure(i):
    return i * 1.5


@functional
def fails_at(i, bad):
    if i == bad:
        raise ValueError(f"measure {i} failed")
    return float(i)


@functional
def brightness(rec):
    return rec.flux * 2 + len(rec.name)


@dataclass(slots=True)
class Result:
    name: str
    flux: float
    tags: list = field(default_factory=list)

    def label(self):
        return f"{self.name}:{self.flux:.1f}"


@dataclass(frozen=True, slots=True)
class Key:
    band: str
    value: float


@dataclass(order=True, slots=True)
class Ranked:
    score: float
    name: str


@dataclass(slots=True)
class Outer:
    inner: Result
    extra: tuple


def plain_reader(rec):
    return rec.flux + 100


@schedule
def collect(n):
    results = []
    for i in range(n):
        res = Result(f"img{i}", flux=measure(i))
        results.append(res)
    best = max(results, key=lambda r: r.flux)
    print("best", best)
    print("sorted", [r.name for r in sorted(results, key=lambda r: -r.flux)])
    total = 0
    for r in results:
        total += r.flux
        if r.flux > 3:
            print("bright", r.name)
    print("total", total)
    print("labels", [r.label() for r in results])
    print("plain", plain_reader(results[2]))
    print("asdict", json.dumps(dataclasses.asdict(results[1])))
    print("genexp", sum(r.flux for r in results), max(r.flux * 2 for r in results))
    print("mean", statistics.mean(r.flux for r in results))
    print("array", np.array([r.flux for r in results]).sum())
    print("attrgetter", [r.name for r in sorted(results, key=operator.attrgetter("flux"))][:2])
    print("index", results.index(Result("img2", 3.0)), Result("img3", 4.5) in results)
    later = [Result(f"late{i}", measure(i)) for i in range(3)]
    print("comprehension", later[2].flux, [r.flux for r in later])
    return results


@schedule
def keys_and_equality(n):
    seen = {}
    ks = [Key("g", measure(i % 2)) for i in range(n)]
    for k in ks:
        seen[k] = seen.get(k, 0) + 1
    print("counts", sorted(seen.items(), key=lambda kv: kv[0].value))
    print("equal", ks[0] == ks[2], ks[0] == ks[1], ks[0] in ks[1:], len(set(ks)))
    ranked = sorted(Ranked(measure(n - i), f"r{i}") for i in range(n))
    print("ranked", ranked[0], ranked[-1])
    return ks[-1]


@schedule
def nested_and_tasks(n):
    outs = []
    for i in range(n):
        o = Outer(Result(f"o{i}", measure(i), [measure(i + 1)]), (measure(i + 2), i))
        outs.append(o)
    print("deep", outs[1].inner.tags[0] + outs[1].extra[0])
    bs = [brightness(o.inner) for o in outs]
    print("tasks", bs)
    r = Result("copied", measure(7))
    c = copy.copy(r)
    rep = dataclasses.replace(r, flux=measure(8))
    print("copies", c, rep, f"{r}", str(r) == repr(r))
    r.flux = r.flux + 1
    r.tags.append(measure(9))
    print("changed", r, getattr(r, "flux"))
    return outs[0]


@schedule
def failing_field(n, bad):
    results = []
    for i in range(n):
        results.append(Result(f"f{i}", fails_at(i, bad)))
        print("built", i)
    print("never with a failure", [r.flux for r in results])
    return len(results)


class Star:
    """A plain class of the program: results stored into its slots."""
    __slots__ = ("name", "flux", "err")

    def __init__(self, name):
        self.name = name

    def describe(self):
        return f"{self.name} {self.flux:.1f}±{self.err}"


class Guarded:
    __slots__ = ("_flux",)

    @property
    def flux(self):
        return self._flux

    @flux.setter
    def flux(self, v):
        print("setter sees", type(v).__name__)
        self._flux = v


@schedule
def attributes(n):
    stars = [Star(f"s{i}") for i in range(n)]
    for s in stars:
        s.flux = measure(len(s.name) + n)
        s.err = measure(1) / 10
    print("star", stars[0].flux, stars[-1].err, stars[1].describe())
    print("slots", [getattr(stars[2], a) for a in Star.__slots__])
    print("repr in f-string", f"{[s.flux for s in stars]}", f"{stars[0].flux:.2f}")
    g = Guarded()
    g.flux = measure(3)
    print("guarded", g.flux)
    s = stars[0]
    s.flux = fails_at(2, -1)
    s.flux = s.flux + 1
    print("updated", s.flux)
    try:
        t = Star("bad")
        t.flux = fails_at(4, 4)
        print("never")
    except ValueError as e:
        print("caught", e, hasattr(t, "flux"))
    return stars[-1]


@schedule
def main():
    print("attributes", attributes(4).flux)
    print("collect", collect(6)[-1])
    print("keys", keys_and_equality(5))
    print("nested", nested_and_tasks(4))
    print("no failure", failing_field(4, -1))
    try:
        failing_field(6, 3)
    except ValueError as e:
        print("caught", e)
    failing_field(3, 1)


if __name__ == "__main__":
    main()
