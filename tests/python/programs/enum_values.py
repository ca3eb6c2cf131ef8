from pydron import schedule, functional

import enum

class Color(enum.Enum):
    RED = 1
    GREEN = 2

@functional
def pick(i):
    return Color.RED if i % 2 else Color.GREEN

@schedule
def main():
    cs = [pick(i) for i in range(4)]
    return [c.name for c in cs], cs.count(Color.RED), Color.GREEN in cs

if __name__ == "__main__":
    print(main())
