# A pipeline per item, as scientists write one: each item goes through two,
# three or four @functional steps in one loop body, every step given the
# previous step's placeholder. The driver keeps one batch of calls per
# function open, a step's placeholder inputs taken when its batch is sent
# (the producer's first): steps that feed each other in a cycle (a step
# given the result of the item before), the same result given to two
# steps, a step that fails for one item (its consumers fail with it, the
# exception raised in program order), a function redefined in the middle
# of the loop, results printed while the loop runs. Each gives what
# sequential Python gives.
from pydron import functional, schedule


@functional
def calibrate(i):
    return i * 2


@functional
def measure(x):
    return x + 1


@functional
def fit(x, y):
    return x * 10 + y


@functional
def summarize(x, label):
    return f"{label}:{x}"


@functional
def fragile(x):
    if x == 2 * 137:
        raise ValueError(f"cannot measure {x}")
    return x - 1


@schedule
def two_steps(n):
    out = []
    for i in range(n):
        a = calibrate(i)
        out.append(measure(a))
    return out


@schedule
def four_steps(n):
    out = []
    for i in range(n):
        a = calibrate(i)
        b = measure(a)
        c = fit(a, b)  # a feeds two steps
        out.append(summarize(c, "s"))
    return out


@schedule
def feedback(n):
    # each item's first step takes the previous item's last result: the
    # batches of the two functions wait for each other
    out = []
    prev = 0
    for i in range(n):
        a = fit(prev, i)
        prev = measure(a)
        out.append(prev)
    return out


@schedule
def with_failure(n):
    out = []
    for i in range(n):
        a = calibrate(i)
        b = fragile(a)
        out.append(measure(b))
    return out


@schedule
def redefined(n):
    global measure
    out = []
    old = measure
    for i in range(n):
        if i == n // 2:
            @functional
            def measure(x):
                return x + 1000
        out.append(measure(calibrate(i)))
    measure = old
    return out


@schedule
def printed(n):
    total = 0
    for i in range(n):
        b = measure(calibrate(i))
        if i % 97 == 0:
            print("item", i, b)
        total = fit(total, b) if i % 10 else b
    return total


if __name__ == "__main__":
    r = two_steps(1000)
    print("two", len(r), r[:4], sum(r))
    r = four_steps(600)
    print("four", len(r), r[:3], r[-1])
    r = feedback(120)
    print("feedback", r[:5], r[-1] % 1000003)
    try:
        with_failure(400)
    except ValueError as e:
        print("ValueError", e)
    r = redefined(400)
    print("redefined", r[:2], r[198:202], sum(r))
    print("printed", printed(200))
