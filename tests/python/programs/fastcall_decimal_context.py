# Many tiny calls in a program that imported decimal, while the driver's
# decimal context changes between calls in every way it can: precision,
# rounding, Emin/Emax, capitals, clamp, a trap turned off and on again, a
# whole new context (setcontext) and a localcontext block. The driver's C
# fast path checks the context on each call; every task must compute with
# the context of its own call, as sequential Python does.
import decimal
from decimal import Decimal

from pydron import functional, schedule


@functional
def third(i):
    import decimal as d  # (reads no global: the function's version never changes)

    return str(d.Decimal(i) / d.Decimal(3))


@functional
def safe_div(a, b):
    try:
        return str(Decimal(a) / Decimal(b))
    except decimal.DecimalException as e:
        return "trapped " + type(e).__name__


@functional
def big(i):
    try:
        return str(Decimal(10) ** (i % 40) * Decimal("1.5"))
    except decimal.Overflow:
        return "overflow"


@schedule
def main(n):
    out = []
    ctx = decimal.getcontext()
    for i in range(n):
        k = i % 97
        if k == 10:
            ctx.prec = 5 + i % 30
        elif k == 20:
            ctx.rounding = decimal.ROUND_DOWN if i % 2 else decimal.ROUND_HALF_EVEN
        elif k == 30:
            ctx.traps[decimal.DivisionByZero] = not ctx.traps[decimal.DivisionByZero]
        elif k == 40:
            ctx.capitals = 1 - ctx.capitals
        elif k == 50:
            ctx.Emax = 20 if ctx.Emax != 20 else 999999
        elif k == 60:
            ctx.clamp = 1 - ctx.clamp
        elif k == 70:
            decimal.setcontext(decimal.Context(prec=3 + i % 7))
            ctx = decimal.getcontext()
        if k == 80:
            with decimal.localcontext() as lc:
                lc.prec = 2
                out.append(third(i))
        out.append(third(i))
        out.append(safe_div(i, i % 5))
        out.append(big(i))
    return out


if __name__ == "__main__":
    import hashlib

    res = main(1500)
    print(len(res), len(set(res)), hashlib.sha256("\n".join(res).encode()).hexdigest())
    for j in range(0, len(res), 37):
        print(j, res[j])
    print(decimal.getcontext().prec)
