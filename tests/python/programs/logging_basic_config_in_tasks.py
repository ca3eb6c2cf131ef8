# logging's module-level functions in @functional code with no logging
# set-up: the first one configures the root logger (basicConfig), as in one
# process, and the records of tasks and driver share its format; an explicit
# basicConfig with a format in a task sets the format for what follows.
import logging

from pydron import functional, schedule


@functional
def measure(i):
    logging.warning("measuring %d", i)
    logging.info("hidden %d", i)  # below the default WARNING
    return i * 2


@functional
def configured(i):
    logging.basicConfig(format="%(levelname)s|%(name)s|%(message)s", force=True)
    logging.error("configured %d", i)
    return i


@schedule
def main():
    logging.getLogger("prog").warning("before any task")  # last resort: message alone
    out = [measure(i) for i in range(3)]
    logging.warning("driver sees %s", out)
    c = configured(7)
    logging.getLogger("prog").warning("after %d", c)
    logging.warning("root after %d", measure(5))
    # the root logger as the program left it (stderr: only its last line is compared)
    print([(type(h).__name__, h.formatter._fmt) for h in logging.getLogger().handlers])
    return sum(out)


if __name__ == "__main__":
    print(main())
