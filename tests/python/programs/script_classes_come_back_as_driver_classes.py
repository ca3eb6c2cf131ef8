from pydron import schedule, functional

import dataclasses
import enum
import typing

# Classes defined in the script travel in results (and exceptions) and come
# back as the driver's own classes: identity, isinstance, except clauses.

class Perm(enum.IntFlag):
    NONE = 0
    R = 4
    W = 2

class Color(enum.Enum):
    RED = 1
    GREEN = 2

@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

class Pair(typing.NamedTuple):
    a: int
    b: str

class SimError(Exception):
    pass

class Counter:
    calls = 0

    def bump(self):
        Counter.calls += 1
        return Counter.calls

@functional
def perms(i):
    return Perm.R | Perm.W if i else Perm.NONE

@functional
def things(i):
    return [Color.GREEN, Point(i), Pair(i, "b"), {"c": Color.RED}, Counter()]

@functional
def fails(i):
    raise SimError(f"failed {i}")

@schedule
def main():
    a, b = perms(0), perms(1)
    print(a is Perm.NONE, b == Perm.R | Perm.W, type(b) is Perm, Perm.W in b)
    c = things(2)
    print(c[0] is Color.GREEN, type(c[1]) is Point, c[1] == Point(2), type(c[2]) is Pair,
          c[3]["c"] is Color.RED, isinstance(c[4], Counter))
    print(c[4].bump(), Counter().bump(), Counter.calls)
    try:
        fails(3)
    except SimError as e:
        print("caught", type(e) is SimError, e)
    return [a, b, c[:3]]

if __name__ == "__main__":
    print(main())
    print(main()[0] is Perm.NONE)
