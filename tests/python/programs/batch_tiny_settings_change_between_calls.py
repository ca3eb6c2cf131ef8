# Thousands of tiny calls sent many per task while the program's warnings
# filters and logging levels differ from those it started with (numpy,
# imported after pydron, adds filters of its own; a filter turns the tasks'
# warning into an error) and its logging levels change between calls: a
# logger level that lets their debug records through for a stretch of
# calls, logging.disable for another. A worker runs a batch's calls with the
# settings of those calls applied once (not through a wrapper per call);
# each call must still see the settings of its own call, as in sequential
# Python, and the first failure in program order is the one raised.
# (Warnings filters changed while calls are pending are not here: on the
# in-process executors tasks see the filters of when they run, a known
# limit, docs/python.md.)
import logging
import sys
import warnings

from pydron import functional, schedule

import numpy as np  # noqa: E402,F401  (after pydron: its filters are the program's own)

logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(name)s %(message)s",
                    level=logging.INFO)
log = logging.getLogger("tiny")


@functional
def step(i):
    if i % 50 == 7:
        log.debug("debug from call %d", i)
    if i % 50 == 9:
        log.info("info from call %d", i)
    if i % 100 == 11:
        try:
            warnings.warn(f"late call {i}", UserWarning)
        except UserWarning as e:
            return f"raised {e}"
    return i * 2


@schedule
def main(n):
    out = []
    for i in range(n):
        if i == 1100:
            log.setLevel(logging.DEBUG)
        if i == 1400:
            log.setLevel(logging.NOTSET)
            logging.disable(logging.INFO)
        if i == 1700:
            logging.disable(logging.NOTSET)
        out.append(step(i))
    return out


@functional
def boom(i):
    if i == 333:
        warnings.warn("late boom", UserWarning)
    return i


@schedule
def failing(n):
    return [boom(i) for i in range(n)]


if __name__ == "__main__":
    warnings.filterwarnings("error", message="late")  # the warning raises in the task
    res = main(2000)
    print(len(res), [r for r in res if isinstance(r, str)][:20])
    print(sum(r for r in res if isinstance(r, int)))
    failing(600)  # UserWarning: late boom, from call 333 (an error by the filter)
