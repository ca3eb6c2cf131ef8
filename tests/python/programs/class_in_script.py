from pydron import schedule, functional

class Vec:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __add__(self, o):
        return Vec(self.x + o.x, self.y + o.y)
    def __repr__(self):
        return f"Vec({self.x}, {self.y})"

@functional
def rot(v):
    return Vec(-v.y, v.x)

@schedule
def main():
    acc = Vec(0, 0)
    for i in range(4):
        acc = acc + rot(Vec(i, 1))
    return acc

if __name__ == "__main__":
    print(main())
