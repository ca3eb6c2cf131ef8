# The traceback an `except` clause sees, the way pipelines report a skipped
# input (traceback.print_exc(), traceback.format_exc(), log.exception,
# e.__traceback__): the program's frames and lines only, as plain Python
# shows them - no frame of pydron's runtime, no extra entry for the `try`
# line - for a driver error in a try body that runs in parallel and in one
# that does not, a task's failure (its own frames inside), a helper of the
# program between, a nested try, `raise e` again in a handler, chained
# exceptions (`raise ... from e`), and in loops that go on after the error.
import logging
import sys
import traceback

from pydron import functional, schedule

logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(funcName)s:%(lineno)d %(message)s")
log = logging.getLogger("tb")


@functional
def calib(i, bad):
    if i == bad:
        return load(i)
    return i * 2


def load(i):
    raise ValueError(f"cannot read image {i}")


def lookup(table, i):
    return table[i]


def lines(e):
    return [(f.name, f.lineno, f.line) for f in traceback.extract_tb(e.__traceback__)]


@schedule
def driver_error_in_parallel_body(n):
    table = {0: "a", 1: "b"}
    out = []
    for i in range(n):
        try:
            v = calib(i, -1)
            out.append((table[i], v))
        except KeyError as e:
            print("format_exc:", traceback.format_exc())
            print("lines:", lines(e))
    return out


@schedule
def driver_error_in_eager_body(n):
    table = {0: "a"}
    for i in range(n):
        try:
            def helper(k):
                return table[k]
            print(helper(i))
        except KeyError:
            traceback.print_exc(file=sys.stdout)


@schedule
def task_failure_caught(n, bad):
    total = 0
    for i in range(n):
        try:
            total += calib(i, bad)
        except ValueError as e:
            print("lines:", lines(e))
            log.exception("skipped %d", i)
    return total


@schedule
def through_a_helper(n):
    table = {0: 1}
    for i in range(n):
        try:
            v = calib(i, -1) + lookup(table, i)
            print("ok", v)
        except KeyError as e:
            print("lines:", lines(e))


@schedule
def nested_and_reraised(n):
    table = {}
    for i in range(n):
        try:
            try:
                x = table[i]
            except KeyError as e:
                print("inner:", lines(e))
                raise e
        except KeyError as e:
            print("outer:", lines(e))
        try:
            try:
                calib(i, i)
            except ValueError as e:
                raise RuntimeError("wrapped") from e
        except RuntimeError as e:
            print("chained:", lines(e), lines(e.__cause__))


for round_ in range(2):   # the second time with result categories learned
    print("round", round_)
    print(driver_error_in_parallel_body(3))
    driver_error_in_eager_body(2)
    print(task_failure_caught(4, 2))
    through_a_helper(2)
    nested_and_reraised(2)
