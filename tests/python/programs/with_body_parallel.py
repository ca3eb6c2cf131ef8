# with bodies run their tasks in parallel; __exit__ sees a task's failure at
# its sequential point, and a suppressed failure leaves the locals of that point.
import contextlib
import io

from pydron import schedule, functional


@functional
def process(i):
    if i == 4:
        raise ValueError(f"bad frame {i}")
    return i * 10


class Recorder:
    def __init__(self, suppress):
        self.suppress = suppress
        self.seen = []

    def __enter__(self):
        print("enter")
        return self

    def __exit__(self, t, e, tb):
        print("exit with", t.__name__ if t else None, e)
        return self.suppress


@schedule
def run(n, suppress):
    out = []
    i = None
    with Recorder(suppress) as rec:
        for i in range(n):
            x = process(i)
            out.append(x)
            print("frame", i, x)
        last = x
    print("after", i, out, rec.suppress)
    try:
        print("last", last)
    except UnboundLocalError:
        print("last unbound")
    return out


@schedule
def captured(n):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for i in range(n):
            v = process(i)
            print("value", i, v)
    print("captured:", buf.getvalue().split("\n"))


if __name__ == "__main__":
    print(run(3, False))
    print(run(8, True))
    captured(3)
    try:
        run(8, False)
    except ValueError as e:
        print("raised", e)
