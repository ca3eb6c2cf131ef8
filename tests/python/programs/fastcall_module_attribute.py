# @functional calls reached through a module (import mylib;
# mylib.calibrate(img)), as programs split into modules write them: here
# the program's own module, read back from sys.modules. Scalars and
# placeholders as arguments, keyword arguments, a name the module does not
# have, a plain function of another module (math.sqrt) given a placeholder,
# and a module-level __getattr__ (PEP 562, code of the program that runs at
# each lookup). Each gives what sequential Python gives, in program order.
import math
import sys

from pydron import functional, schedule

me = sys.modules[__name__]
looked_up = []


@functional
def leaf(i):
    return i * 3


@functional
def add(a, b):
    return a + b


@functional
def scale(a, k=2):
    return a * k


def __getattr__(name):
    # only names the module does not define reach here
    if name.startswith("dyn_"):
        looked_up.append(name)
        return add
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@schedule
def pipeline(n):
    xs = []
    for i in range(n):
        xs.append(me.leaf(i))
    out = []
    for i in range(0, n - 1, 2):
        out.append(me.add(xs[i], xs[i + 1]))
        out.append(me.scale(xs[i], k=5))
        out.append(me.scale(a=i))
        out.append(me.dyn_sum(xs[i], i))
    roots = [math.sqrt(x) for x in out[:50]]
    return out, roots


@schedule
def missing(n):
    out = []
    for i in range(n):
        out.append(me.leaf(i))
        if i == n - 3:
            out.append(me.no_such_function(i))
    return out


if __name__ == "__main__":
    out, roots = pipeline(600)
    print(len(out), out[:8], sum(out), round(sum(roots), 6))
    print(len(looked_up), looked_up[:2])
    try:
        missing(500)
    except AttributeError as e:
        print("AttributeError", e)
