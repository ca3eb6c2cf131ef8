# Signed zeros as arguments (positional, in a tuple, keyword-only, inside a
# complex number, a result fed back): each call sees its own sign, on the
# fast path and the Python path alike. The state a task reads is
# state_equal_but_different_values.py.

import math
from pydron import functional, schedule
@functional
def sign(v):
    return math.copysign(1.0, v)
@functional
def sgn_pair(p):
    return [math.copysign(1.0, x) for x in p]
@functional
def kw(*, v=0.0):
    return math.copysign(1.0, v)
@schedule
def main():
    xs = [0.0, -0.0, 0.0, -0.0]
    a = [sign(x) for x in xs]
    b = [sgn_pair((x, -x)) for x in xs]
    c = [kw(v=x) for x in xs]
    d = [sign(complex(0.0, x).imag) for x in xs]
    e = [sign(y) for y in [sign(x) * 0.0 for x in xs]]
    return a, b, c, d, e
if __name__ == "__main__":
    print(main())
