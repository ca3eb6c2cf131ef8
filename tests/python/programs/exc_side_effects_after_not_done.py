from pydron import schedule, functional

@functional
def boom(x):
    raise RuntimeError("task failed")

@functional
def ok(x):
    return x * 2

@schedule
def work(out):
    out.append(ok(1))
    bad = boom(0)
    out.append(ok(2))
    out.append(ok(3))
    print("should not print")
    return bad

if __name__ == "__main__":
    out = []
    try:
        work(out)
    except RuntimeError as e:
        print("caught", e)
    print(out)
