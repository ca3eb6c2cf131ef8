# try bodies run their tasks in parallel; a failure still reaches the
# handlers at its sequential point, with the locals of that point.
from pydron import schedule, functional


@functional
def process(i):
    if i == 5:
        raise ValueError(f"bad frame {i}")
    return i * 10


@functional
def slow_ok(i):
    return i + 0.5


@schedule
def loop_in_try(n):
    out = []
    r = None
    try:
        for f in range(n):
            r = process(f)
            out.append(r)
            total = sum(out) if f > 100 else f
            print("queued", f)
        done = True
    except ValueError as e:
        print("failed at", f, "r =", r, "out =", out, "error:", e)
        try:
            print(done)
        except UnboundLocalError as u:
            print("done unbound:", type(u).__name__)
        print("total", total)
    else:
        print("no failure", out)
    finally:
        print("finally", len(out))
    return out


@schedule
def return_inside(n):
    try:
        acc = []
        for i in range(n):
            acc.append(slow_ok(i))
            if i == 3:
                return acc
    except ValueError:
        return "caught"
    return "end"


@schedule
def break_and_continue(n):
    res = []
    for i in range(n):
        try:
            x = process(i)
            if i % 2:
                continue
            res.append(x)
            if i >= 6:
                break
        except ValueError as e:
            res.append(str(e))
    return res


@schedule
def driver_error_after_task_failure():
    d = {}
    try:
        a = process(5)   # fails first in program order
        b = d["missing"]  # a driver KeyError afterwards
        return a, b
    except KeyError:
        return "KeyError caught"
    except ValueError as e:
        return f"ValueError caught: {e}"


@schedule
def driver_error_only():
    d = {}
    try:
        a = process(1)
        b = d["missing"]
        return a, b
    except KeyError as e:
        return f"KeyError caught: {e}, a = {a}"


@schedule
def uncaught(n):
    try:
        for i in range(n):
            y = process(i)
    except KeyError:
        print("not this one")
    return y


if __name__ == "__main__":
    print(loop_in_try(8))
    print(loop_in_try(4))
    print(return_inside(6))
    print(break_and_continue(9))
    print(driver_error_after_task_failure())
    print(driver_error_only())
    print(uncaught(8))
