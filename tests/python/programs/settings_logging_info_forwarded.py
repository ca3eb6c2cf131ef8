from pydron import schedule, functional

import logging
import sys

# logging.basicConfig(level=INFO) in the script: INFO records logged in tasks
# appear, formatted by the driver's handler, in program order with prints.
logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                    format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("prog.tasks")

@functional
def step(x):
    log.info("step %d", x)
    log.debug("not shown %d", x)
    return x + 1

@functional
def check(x):
    log.warning("checking %s", x)
    if x > 3:
        raise ValueError(f"too big: {x}")
    return x

@schedule
def main():
    x = step(0)
    print("after first", x)
    x = step(x)
    logging.getLogger("prog").setLevel(logging.WARNING)
    x = step(x)
    logging.getLogger("prog").setLevel(logging.NOTSET)
    y = check(step(x))
    return y

if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        print("caught", e)
