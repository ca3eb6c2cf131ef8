# Code that looks at its caller's frame (logging's funcName/lineno,
# sys._getframe, inspect.currentframe/stack, traceback.extract_stack) sees the
# program's frame, never pydron's.
import inspect
import logging
import sys
import traceback

from pydron import schedule, functional

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)s %(funcName)s:%(lineno)d %(module)s %(message)s")
log = logging.getLogger("app")


@functional
def sq(x):
    return x * x


@schedule
def main():
    v = sq(3)
    logging.info("root %s", v)
    log.info("app %s", v)
    info = log.info
    info("direct %s", v)
    log.log(logging.WARNING, "lvl %s", v)
    log.warning("w", stacklevel=1)
    f = sys._getframe()
    print(f.f_code.co_name, f.f_lineno, sys._getframe(0).f_code.co_name)
    g = inspect.currentframe()
    print(g.f_code.co_name, g.f_lineno)
    print(inspect.stack()[0].function, traceback.extract_stack()[-1].name)

    def helper():
        log.info("in helper %s", sq(2))
        return sys._getframe().f_code.co_name

    print(helper())
    try:
        log.info("in try %s", sq(4))
    except ValueError:
        pass
    check = lambda: log.info("in lambda")
    check()
    return 0


if __name__ == "__main__":
    main()
