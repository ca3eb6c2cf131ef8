# Logging calls in loops next to the tasks, the way pipelines report
# progress (`log.info("calibrated %s: mean %.2f", name, img.mean())`): while
# tasks are pending they are queued in program order like print, so the
# output must be plain Python's, line for line, with the program's own line
# numbers and function names in the records: every level, logging's
# module-level functions, Logger.log, %-arguments that are task results or
# plain values (an array changed after the call is logged as it was), extra
# fields, a call below the level, prints between, a logger that does not
# propagate, log.exception in a handler, a failing task before a call (the
# call never happens), and loggers where something of the program runs (a
# handler of the program that keeps its records and is read in the loop, a
# filter, a Formatter subclass), which run at their turn.
import logging
import sys

import numpy as np

from pydron import functional, schedule

logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                    format="%(levelname)s %(name)s %(funcName)s:%(lineno)d %(message)s")
log = logging.getLogger("pipe")
quiet = logging.getLogger("pipe.quiet")
quiet.setLevel(logging.WARNING)
alone = logging.getLogger("alone")
alone.propagate = False
_h = logging.StreamHandler(sys.stdout)
_h.setFormatter(logging.Formatter("[alone %(tag)s] %(message)s"))
alone.addHandler(_h)


@functional
def calib(i):
    return np.arange(3.0) * i


@functional
def fails_at(i, bad):
    if i == bad:
        raise ValueError(f"bad image {i}")
    return i * 1.5


@schedule
def levels(n):
    for i in range(n):
        img = calib(i)
        log.info("calibrated %d: mean %.2f sum %s", i, img.mean(), img.sum())
        log.debug("not shown %d", i)
        quiet.info("not shown either %d", i)
        quiet.warning("quiet warns %r", img.max())
        log.warning("shape %s", img.shape)
        log.error("error-level %d", i)
        log.critical("critical %s", "plain")
        log.log(logging.INFO, "via log() %d", i)
        logging.info("root %d %s", i, img.tolist())
        print("printed", i, img.sum())


@schedule
def plain_and_changed(n):
    a = np.zeros(2)
    for i in range(n):
        v = calib(i)
        log.info("before change %s", a)
        a += 1
        log.info("after change %s and %s", a, v)
        alone.info("own handler %d", i, extra={"tag": "t%d" % i})
    return a


@schedule
def failing_task(n, bad):
    for i in range(n):
        v = fails_at(i, bad)
        log.info("got %.1f", v)
        print("printed", v)


@schedule
def exception_logged(n):
    table = {0: "a", 1: "b"}
    for i in range(n):
        v = calib(i)
        try:
            name = table[i]
        except KeyError:
            log.exception("no name for %d (sum %s)", i, v.sum())
            continue
        log.info("%s: %s", name, v.sum())


class Keep(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen = []

    def emit(self, record):
        self.seen.append(record.getMessage())


class Upper(logging.Formatter):
    def format(self, record):
        return super().format(record).upper()


@schedule
def program_handler(n):
    lg = logging.getLogger("kept")
    keep = Keep()
    lg.addHandler(keep)
    lg.propagate = False
    counts = []
    for i in range(n):
        v = calib(i)
        lg.warning("kept %s", v.sum())
        counts.append(len(keep.seen))
    lg.removeHandler(keep)
    return counts, keep.seen


@schedule
def program_filter_and_formatter(n):
    lg = logging.getLogger("filtered")
    lg.propagate = False
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(Upper("%(message)s"))
    lg.addHandler(h)
    lg.addFilter(lambda rec: (print("filter sees", rec.getMessage()), True)[1])
    for i in range(n):
        v = calib(i)
        print("value", v.sum())
        lg.warning("filtered %s", v.sum())
    lg.removeHandler(h)


for round_ in range(2):   # the second time with result categories learned
    print("round", round_)
    levels(3)
    print(plain_and_changed(3))
    try:
        failing_task(5, 2)
    except ValueError as e:
        print("failing_task raised", e)
    exception_logged(3)
    print(program_handler(3))
    program_filter_and_formatter(2)
