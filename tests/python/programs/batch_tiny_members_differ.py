# Tiny calls of one function sent many per task whose members differ: most
# take plain ints, some an object of a class of this script (pickled by
# value: the worker loads the whole batch with care), some the Future of an
# earlier call; some log, some warn, some log and then fail, some return a
# list; the last run's last call logs and then fails. Each call's records,
# warning and exception come out as if it ran alone, in program order (the
# worker runs a batch's calls in one loop).
import logging
import warnings

from pydron import functional, schedule

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s",
                    stream=__import__("sys").stdout)
logging.captureWarnings(True)
warnings.simplefilter("always")
log = logging.getLogger("batch")


class Box:
    def __init__(self, v):
        self.v = v


@functional
def seed(i):
    return i * 3


@functional
def step(i, extra, fail_at):
    if isinstance(extra, Box):
        extra = extra.v
    if i % 250 == 11 or i % 500 == 123:  # (123: a record and a warning)
        log.info("call %d logs", i)
    if i % 500 == 123:
        warnings.warn(f"call {i} warns")
    if i == fail_at:
        log.info("call %d logs", i)
        log.warning("call %d logs again, then fails", i)
        raise ValueError(f"call {i} failed")
    if i % 90 == 5:
        return [i, extra]
    return i + extra


@schedule
def run(n, boxed, fail_at=-1):
    seeds = []
    for i in range(n):
        seeds.append(seed(i))
    out = []
    for i in range(n):
        if i % 37 == 0:
            out.append(step(i, seeds[i], fail_at))  # a Future: this call waits for it
        elif boxed and i % 13 == 0:
            out.append(step(i, Box(i), fail_at))
        else:
            out.append(step(i, 1, fail_at))
    total = 0
    for v in out:
        total += v[0] + v[1] if isinstance(v, list) else v
    return total


if __name__ == "__main__":
    print(run(3000, False))  # plain batches
    print(run(3000, True))   # batches that hold classes by value
    print(run(3000, False, fail_at=2990))
