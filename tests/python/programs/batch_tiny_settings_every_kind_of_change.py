# Thousands of tiny calls (batched, on the driver's C fast path), and
# between stretches of them the program changes its settings in every way
# the fast path's "nothing changed" check has to see: warnings.simplefilter
# (the filters list changed in place), catch_warnings (the list swapped for
# another), resetwarnings (emptied), numpy's errstate and seterr (its context
# variable), importing decimal in the middle of the loop (sys.modules
# changed) and then changing its context, and logging levels. Each call
# must run with the settings of its own call, as in sequential Python.
# (Each change comes after the results so far were used: tasks on the
# in-process executors see the warnings filters of when they run, a known
# limit, docs/python.md.)
import logging
import sys
import warnings

from pydron import functional, schedule

import numpy as np  # noqa: E402  (after pydron: its filters are the program's own)

logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(name)s %(message)s",
                    level=logging.INFO)
log = logging.getLogger("kinds")


@functional
def step(i):
    out = [i]
    if i % 97 == 5:
        try:
            warnings.warn(f"call {i}", UserWarning)
            out.append("warned")
        except UserWarning as e:
            out.append(f"raised {e}")
    if i % 89 == 3:
        try:
            out.append(float(np.float64(i) / np.float64(0)))
        except FloatingPointError as e:
            out.append(f"fpe {e}")
    if i % 83 == 2:
        import decimal  # (the driver imports it only in the middle of the loop)

        out.append(str(decimal.Decimal(i) / decimal.Decimal(7)))
    if i % 79 == 1:
        log.debug("debug from call %d", i)
    return tuple(out) if len(out) > 1 else i


def used(xs):
    # every result so far is used (the driver waits for them)
    return sum(1 for x in xs if type(x) is tuple)


@schedule
def main(n):
    out = []
    stage = 0
    for i in range(n):
        if i and i % 400 == 0:
            marked = used(out)
            stage += 1
            if stage == 1:
                warnings.simplefilter("error", UserWarning)
            elif stage == 2:
                cw = warnings.catch_warnings()
                cw.__enter__()
                warnings.simplefilter("ignore")
            elif stage == 3:
                cw.__exit__(None, None, None)
            elif stage == 4:
                warnings.resetwarnings()
                np.seterr(divide="raise")
            elif stage == 5:
                es = np.errstate(divide="ignore")
                es.__enter__()
                import decimal  # noqa: F401  (sys.modules changes mid-loop)
            elif stage == 6:
                es.__exit__(None, None, None)
                import decimal

                decimal.getcontext().prec = 5
                log.setLevel(logging.DEBUG)
            elif stage == 7:
                import decimal

                decimal.getcontext().prec = 40
                log.setLevel(logging.NOTSET)
                warnings.simplefilter("error")
            print("stage", stage, "at", i, "marked so far", marked)
        out.append(step(i))
    return out


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        res = main(3400)
    print(len(res), sum(1 for x in res if type(x) is tuple))
    for x in res:
        if type(x) is tuple:
            print(x)
