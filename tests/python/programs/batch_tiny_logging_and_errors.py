# Tiny calls that log and fail, sent many per task: each call's log records and
# exception come out as if it ran alone, in program order; the first failing
# call in program order is the one raised (not a later one in the same batch).
import logging

from pydron import schedule, functional

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s",
                    stream=__import__("sys").stdout)
log = logging.getLogger("batch")


@functional
def step(i):
    if i % 400 == 7:
        log.info("odd one %d", i)
    if i in (2345, 2301):
        raise KeyError(i)
    return -i


@schedule
def main(n):
    total = 0
    out = []
    for i in range(n):
        out.append(step(i))
    for v in out:
        total += v
    return total


if __name__ == "__main__":
    print(main(2000))
    print(main(3000))
