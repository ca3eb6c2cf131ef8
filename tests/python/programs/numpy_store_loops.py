# Results stored into numpy arrays in loops (`out[i] = f(i)`), the way
# scientists fill preallocated arrays: the stores are deferred while the
# array is a local nobody else holds, and must give the sequential program's
# arrays, output and exceptions in every shape: 1-D, rows, tuple keys,
# slices, nested and while loops, break, enumerate, two arrays, concrete
# values mixed in, dtype conversions, a deferred operation as the value, and
# the cases where the array can be seen during the loop (a view, an alias, a
# parameter, a read in the loop, a global, a closure, a try statement), where
# each store must happen at its turn.
import numpy as np

from pydron import functional, schedule


@functional
def val(i):
    return i * 1.5


@functional
def vec(i, n):
    return np.arange(n) * i


@functional
def pair(i):
    return (i, -i)


@functional
def fails_at(i, bad):
    if i == bad:
        raise ValueError(f"bad item {i}")
    return float(i)


@schedule
def fill_1d(n):
    out = np.zeros(n)
    for i in range(n):
        out[i] = val(i)
    return out


@schedule
def fill_rows_and_slices(n):
    m = np.zeros((n, 3))
    for i in range(n):
        m[i] = vec(i, 3)
    t = np.zeros((n, 2))
    for i in range(n):
        t[i, :] = pair(i)
    return m, t


@schedule
def nested_and_tuple_keys(n):
    g = np.empty((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            g[i, j] = val(i * n + j)   # float results into an int array: truncated
    return g


@schedule
def while_break_enumerate(n):
    a = np.full(n, -1.0)
    i = 0
    while i < n:
        a[i] = val(i)
        i += 1
        if i == n - 2:
            break
    b = np.zeros(n, dtype=np.complex128)
    for k, x in enumerate(range(10, 10 + n)):
        b[k] = val(x)
    return a, b


@schedule
def two_arrays_mixed_values(n):
    xs = np.zeros(n)
    ys = np.zeros(n, dtype=np.float32)
    for i in range(n):
        xs[i] = val(i) if i % 2 else 7.0
        ys[i] = val(i) + 1
        xs[i] = xs_fallback(i) if i == 3 else val(i) * 2
    return xs, ys


def xs_fallback(i):
    print("fallback at", i)
    return -i


@schedule
def prints_between(n):
    out = np.zeros(n)
    for i in range(n):
        out[i] = val(i)
        print("stored", i)
    print("total", out.sum())
    return out


@schedule
def failing_task(n, bad):
    out = np.zeros(n)
    for i in range(n):
        print("item", i)
        out[i] = fails_at(i, bad)
    return out


@functional
def scalar_then_vector(i):
    return float(i) if i < 3 else np.arange(2.0)


@schedule
def failing_store(n):
    out = np.zeros(n)
    for i in range(n):
        out[i] = scalar_then_vector(i)   # shape (2,) into one element at 3
        print("after", i)
    return out


@schedule
def index_out_of_range(n):
    out = np.zeros(n)
    for i in range(n + 2):
        out[i] = val(i)
    return out


@schedule
def seen_during_the_loop(n):
    out = np.zeros(n)
    view = out[::2]
    alias = np.zeros(n)
    same = alias
    reads = np.zeros(n)
    for i in range(n):
        out[i] = val(i)
        print("view", view.sum())
        alias[i] = val(i) + 1
        print("same", same[: i + 1].tolist())
        reads[i] = val(i)
        print("reads", reads[i], reads[: i + 1].sum())
    return out, alias, reads


@schedule
def parameter_array(out):
    for i in range(len(out)):
        out[i] = val(i)
    return out


GLOBAL = np.zeros(4)


def global_total():
    return float(GLOBAL.sum())


@schedule
def global_array():
    totals = []
    for i in range(len(GLOBAL)):
        GLOBAL[i] = val(i)
        totals.append(global_total())
    return totals


@schedule
def closure_and_try(n):
    out = np.zeros(n)

    def peek():
        return out.sum()

    seen = []
    for i in range(n):
        out[i] = val(i)
        seen.append(peek())
    other = np.zeros(n)
    try:
        for i in range(n):
            other[i] = fails_at(i, 2)
    except ValueError as e:
        print("caught", e, other.tolist())
    return seen


@schedule
def comprehensions_and_generators(n):
    out = np.zeros(n)
    for i in range(n):
        out[i] = val(i)
    picked = [out[i] for i in range(n) if out[i] > 2]   # after the loop
    gen = np.zeros(n)
    steps = (float(v) for v in gen)   # made before the loop, stepped in it
    seen = []
    for i in range(n):
        gen[i] = val(i) + 1
        seen.append(next(steps))
    inside = np.zeros(n)
    sums = []
    for i in range(n):
        inside[i] = val(i)
        sums.append(sum([v for v in inside]))
    return picked, seen, sums


@schedule
def object_and_subclass_arrays(n):
    objs = np.empty(n, dtype=object)
    for i in range(n):
        objs[i] = pair(i)
    masked = np.ma.zeros(n)
    for i in range(n):
        masked[i] = val(i)
    return objs.tolist(), masked.tolist()


@schedule
def list_and_dict_targets(n):
    lst = [0] * n
    d = {}
    for i in range(n):
        lst[i] = val(i)
        d[i] = val(i)
    return lst, d


@functional
def as_float(x):
    return float(x)


@schedule
def keys_and_conversions(n):
    a = np.zeros((n, 3))
    for i in np.arange(n):          # numpy integer keys
        a[i, ...] = vec(int(i), 3)
        a[-1 - i, None, ::2] = (val(int(i)), -1.0)
    ints = np.zeros(n, dtype=np.int32)
    for i in range(n):
        ints[i] = as_float(i * 2.7)   # truncated as plain Python does
    return a.tolist(), ints.tolist()


@schedule
def nan_into_int(n):
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        out[i] = as_float("nan") if i == 2 else as_float(i)
        print("stored", i)
    return out.tolist()


@schedule
def read_only(n):
    out = np.zeros(n)
    out.flags.writeable = False
    for i in range(n):
        out[i] = val(i)
    return out.tolist()


@schedule
def driver_raises_after(n, bad_store):
    out = np.zeros(n)
    for i in range(n):
        out[i] = scalar_then_vector(i + 2) if i == bad_store else val(i)
        if i == 2:
            raise KeyError(f"driver at {i}")
    return out.tolist()


@schedule
def main():
    print(fill_1d(6).tolist())
    m, t = fill_rows_and_slices(4)
    print(m.tolist(), t.tolist())
    print(nested_and_tuple_keys(3).tolist())
    a, b = while_break_enumerate(6)
    print(a.tolist(), b.tolist())
    xs, ys = two_arrays_mixed_values(6)
    print(xs.tolist(), ys.tolist())
    print(prints_between(4).tolist())
    for bad in (0, 2, 5):
        try:
            print(failing_task(4, bad).tolist())
        except ValueError as e:
            print("caught", e)
    try:
        print(failing_store(5))
    except ValueError as e:
        print("caught", type(e).__name__)
    try:
        print(index_out_of_range(3))
    except IndexError as e:
        print("caught", e)
    o, al, rd = seen_during_the_loop(5)
    print(o.tolist(), al.tolist(), rd.tolist())
    print(parameter_array(np.zeros(3)).tolist())
    print(global_array(), GLOBAL.tolist())
    print(closure_and_try(4))
    print(comprehensions_and_generators(4))
    print(object_and_subclass_arrays(3))
    print(list_and_dict_targets(3))
    print(keys_and_conversions(3))
    for fn, args, exc in ((nan_into_int, (4,), ValueError), (read_only, (2,), ValueError),
                          (driver_raises_after, (5, 9), KeyError),
                          (driver_raises_after, (5, 1), ValueError)):
        try:
            print(fn(*args))
        except exc as e:
            print("caught", type(e).__name__, e)
    print(failing_task(3, 1).tolist())


if __name__ == "__main__":
    main()
