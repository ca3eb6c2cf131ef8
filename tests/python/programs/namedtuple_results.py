from pydron import schedule, functional

from collections import namedtuple

Point = namedtuple("Point", "x y")

@functional
def mid(a, b):
    return Point((a.x + b.x) / 2, (a.y + b.y) / 2)

@schedule
def main():
    pts = [Point(i, i * i) for i in range(4)]
    mids = [mid(pts[i], pts[i + 1]) for i in range(3)]
    return mids, [m.y for m in mids], mids[0]._asdict()

if __name__ == "__main__":
    print(main())
