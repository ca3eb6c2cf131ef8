from pydron import schedule, functional

import dataclasses
import enum

# Script classes of several kinds travel to tasks (as arguments made by the
# driver, as results of other tasks) while the driver changes what their
# methods read: enum members keep their identity, isinstance and super()
# work, a dataclass compares equal, and every task sees the state as of its
# call.
SCALE = 10


class Color(enum.Enum):
    RED = 1
    BLUE = 2

    def scaled(self):
        return self.value * SCALE


class Base:
    def describe(self):
        return f"base*{SCALE}"


class Child(Base):
    tag = "c"

    def describe(self):
        return self.tag + ":" + super().describe()


@dataclasses.dataclass
class Point:
    x: int
    y: int

    def norm1(self):
        return (abs(self.x) + abs(self.y)) * SCALE


@functional
def inspect(c, obj, p):
    return (c is Color.RED, c.scaled(), isinstance(obj, Base), obj.describe(),
            p == Point(1, -2), p.norm1(), type(p).__name__)


@functional
def pick(i):
    return Color(i), Child(), Point(i, -2)


@functional
def look(t):
    c, obj, p = t
    # (it names the classes: a class reaching a task only inside an earlier
    # result, unnamed by the function, has that result's state; docs/python.md)
    return (c.scaled(), obj.describe(), p.norm1(), isinstance(p, Point),
            isinstance(obj, Child), c in Color)


@schedule
def main():
    global SCALE
    out = [inspect(Color.RED, Child(), Point(1, -2))]
    t = pick(1)
    SCALE = 100
    Child.tag = "d"
    out.append(inspect(Color.BLUE, Child(), Point(1, -2)))
    out.append(look(t))
    SCALE = 7
    Child.tag = "e"
    out.append(look(t))
    for o in out:
        print(o)
    c, obj, p = t
    print(c is Color.RED, type(obj) is Child, obj.describe(), p, p.norm1())


if __name__ == "__main__":
    main()
