# A class body inside @schedule: its attributes, method defaults and bases
# are values, never placeholders.
from pydron import schedule, functional


@functional
def mk(x):
    return x * 2


class Base:
    tag = "base"


def pick(n):
    return Base


@schedule
def main():
    n = mk(2)
    parts = [mk(1), mk(2)]

    class C(pick(n)):
        size = n
        half = n // 2
        both = parts
        label: int = n
        total = 0
        total += n
        names = [str(p) for p in parts]

        def m(self, a=n, *, b=n):
            return a, b

    print(C.size, C.half, C.both, C.label, C.total, C.names, C.tag)
    print(C().m(), C.m.__defaults__, C.m.__kwdefaults__)
    print(vars(C)["size"], C.__dict__["both"])
    return C


if __name__ == "__main__":
    C = main()
    print(C.size, C.both, C.m.__defaults__, C().m())
