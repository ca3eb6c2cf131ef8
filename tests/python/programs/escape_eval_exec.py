# eval and exec inside @schedule see values, not placeholders.
from pydron import schedule, functional


@functional
def sq(x):
    return x * x


@schedule
def main():
    v = sq(3)
    w = [sq(4)]
    print(eval("v + 1"), eval("w"))
    exec("print('exec', v, w)")
    exec("z = v * 2\nprint('z', z)")
    ns = {}
    exec("y = 5", None, ns)
    print(ns)
    return eval("v")


if __name__ == "__main__":
    print(main())
