# Unpacking results inside try statements (a body that runs lazily, and one
# that does not): a wrong length or a failing task is caught by the handler
# that plain Python would run, with the output before it, and the names keep
# the values plain Python leaves in them.
from pydron import functional, schedule


@functional
def sized(i, n):
    return tuple(range(i, i + n))


@functional
def fails(i):
    raise KeyError(i)


@schedule
def loop_with_try(n):
    got = []
    for i in range(n):
        a = b = None
        try:
            a, b = sized(i, 3 if i == 2 else 2)
            got.append(a + b)
        except ValueError as e:
            print("caught", i, e, a, b)
        print("after", i, a, b)
    return got


@schedule
def failing_inside(n):
    out = []
    for i in range(n):
        try:
            x, y = sized(i, 2)
            z = fails(i) if i == 1 else x
            out.append((x, y, z))
        except KeyError as e:
            print("key", e)
        finally:
            print("finally", i)
    return out


@schedule
def handler_unpacks(n):
    try:
        raise RuntimeError("first")
    except RuntimeError:
        a, b = sized(n, 2)
        print("in handler", a, b)
    c, d = sized(a, 2)
    return a, b, c, d


@schedule
def main():
    print(loop_with_try(4))
    print(failing_inside(3))
    print(handler_unpacks(5))


if __name__ == "__main__":
    main()
