# Tiny calls are gathered into batches (one task for many calls); a call's
# failure must stay its own: a batch whose calls take the results of a
# failing call fails only the call given the failure, whether the failing
# call was in a batch too or a task of its own (a slower function), and
# whether the failure is caught per item, around the loop, or leaves a
# @schedule call that is followed by another one using the same functions.
import time

from pydron import functional, schedule


@functional
def calibrate(i):
    return i * 2


@functional
def measure(x):
    return x + 1


@functional
def fragile(x):
    if x == 2 * 137:
        raise ValueError(f"cannot measure {x}")
    return x - 1


@functional
def slow_fragile(x):
    time.sleep(0.002)  # slower than a batch's budget: a task of its own
    if x == 2 * 37:
        raise ValueError(f"slowly cannot measure {x}")
    return x - 1


@schedule
def uncaught(n, step):
    out = []
    for i in range(n):
        out.append(measure(step(calibrate(i))))
    return out


@schedule
def after(n):
    return sum(measure(calibrate(i)) for i in range(n))


@schedule
def per_item_try(n, step):
    out = []
    for i in range(n):
        try:
            b = step(calibrate(i))
            out.append(measure(b))
        except ValueError as e:
            out.append(str(e))
    return out


@schedule
def around_loop(n, step):
    out = []
    try:
        for i in range(n):
            out.append(measure(step(calibrate(i))))
    except ValueError as e:
        print("caught", e, "after", len(out), "items, last", out[-1] if out else None)
    return out


if __name__ == "__main__":
    for step in (fragile, slow_fragile):
        try:
            uncaught(300 if step is fragile else 60, step)
        except ValueError as e:
            print("uncaught", e)
        print("after", after(300))
        r = per_item_try(300 if step is fragile else 60, step)
        bad = [x for x in r if type(x) is str]
        print("per item", bad, sum(x for x in r if type(x) is int), r[-3:])
        r = around_loop(300 if step is fragile else 60, step)
        print("around", len(r), sum(r))
        print("after", after(300))
