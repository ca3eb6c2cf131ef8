# Results accumulated into numpy arrays in loops (`acc += f(i)`,
# `hist[k] += f(i)`, `img[y0:y1, x0:x1] += stamp(i)`, `acc = acc + f(i)`),
# the way scientists stack calibrated images and fill bins: the operators
# are deferred while the array is a local nobody else holds, and must give
# the sequential program's arrays, output and exceptions in every shape:
# every in-place operator, vectors and scalars, int and float arrays, nested
# and while loops, a store and an operator into one array, a deferred
# operation as the operand, plain operands mixed in, prints between,
# rebinding that broadcasts to a new shape, the first image a task's result
# (alone, aliased, failing, given on to a task); a failing task, an operator that
# fails (dtype casting, shapes that do not broadcast, an index out of range,
# raised before the value is computed, as Python reads the item first)
# raised at its iteration; and the cases where the array can be seen during
# the loop (an alias, a view, a parameter, a read in the loop, a try
# statement), where each operator runs at its turn. Accumulators that are
# not arrays (ints, lists) keep their own behaviour.
import numpy as np

from pydron import functional, schedule


@functional
def val(i):
    return i * 1.5


@functional
def vec(i, n):
    return np.arange(n) * i + 1.0


@functional
def ivec(i, n):
    return np.arange(n, dtype=np.int64) + i


@functional
def fails_at(i, bad):
    if i == bad:
        raise ValueError(f"bad image {i}")
    return np.full(2, float(i))


@schedule
def stack(n):
    acc = np.zeros(3)
    for i in range(n):
        acc += vec(i, 3)
    return acc


@schedule
def every_operator(n):
    a = np.ones(3)
    b = np.full(3, 100.0)
    c = np.full(3, 2.0 ** 20)
    d = np.full(3, 7.0)
    e = np.ones(3, dtype=np.int64)
    f = np.zeros(3, dtype=np.int64)
    for i in range(1, n):
        a *= val(i)
        b -= vec(i, 3)
        c /= val(i)
        d **= 1.0 + val(i) / 10
        e <<= ivec(i, 3) % 3
        f |= ivec(i, 3)
        f ^= ivec(i + 1, 3)
        e //= ivec(1, 3)
        d %= 1000.0 + val(i)
    return a, b, c, d, e, f


@schedule
def nested_while_and_stores(n):
    img = np.zeros((n, 2))
    total = np.zeros(2)
    for i in range(n):
        for j in range(2):
            img[i, j] = val(i + j)
            total += val(i * j)
    k = 0
    w = np.zeros(2)
    while k < n:
        w += vec(k, 2)
        k += 1
    return img, total, w


@schedule
def operands_mixed(n):
    acc = np.zeros(2)
    for i in range(n):
        acc += vec(i, 2) * 2          # a deferred operation as the operand
        acc += 1                      # a plain operand
        acc -= np.ones(2)             # an array the program made
        if i % 2:
            acc += val(i)
    return acc


@schedule
def prints_between(n):
    acc = np.zeros(2)
    for i in range(n):
        print("calibrating", i)
        acc += vec(i, 2)
        print("stacked", i)
    print("total", acc.sum())
    return acc


@schedule
def failing_task(n, bad):
    acc = np.zeros(2)
    for i in range(n):
        print("image", i)
        acc += fails_at(i, bad)
    return acc


@schedule
def casting_fails(n):
    acc = np.zeros(3, dtype=np.int64)
    for i in range(n):
        print("adding", i)
        acc += ivec(i, 3) if i < 2 else vec(i, 3)   # float into int: UFuncTypeError
    return acc


@schedule
def shapes_fail(n):
    acc = np.zeros(3)
    for i in range(n):
        print("adding", i)
        acc += vec(i, 3 if i != 2 else 4)
    return acc


@schedule
def rebound(n):
    acc = np.zeros(3)
    prod = np.ones(3)
    grid = np.zeros(3)
    for i in range(n):
        acc = acc + vec(i, 3)
        prod = prod * val(i + 1)
        grid = grid - ivec(i, 3)[:, None] / 2   # broadcasts to (3, 3)
    return acc, prod, grid


@schedule
def rebound_fails(n, bad):
    acc = np.zeros(2)
    for i in range(n):
        print("image", i)
        acc = acc + fails_at(i, bad)
    return acc


@schedule
def rebound_with_alias(n):
    acc = np.zeros(2)
    first = acc
    for i in range(n):
        acc = acc + vec(i, 2)
    first += 1
    return acc, first


@functional
def total(a):
    return float(a.sum())


@schedule
def first_from_a_task(n):
    acc = vec(0, 3)
    for i in range(1, n):
        acc += vec(i, 3)
    return acc


@schedule
def first_from_a_task_aliased(n):
    acc = vec(0, 2)
    first = acc
    keep = [acc]
    for i in range(1, n):
        acc += vec(i, 2)
        print("first now", first.sum(), total(keep[0]))
    return acc, first, keep[0]


@schedule
def first_task_fails(n):
    acc = fails_at(0, 0)
    for i in range(1, n):
        print("image", i)
        acc += vec(i, 2)
    return acc


@schedule
def first_from_a_task_given_on(n):
    acc = vec(0, 2)
    for i in range(1, n):
        acc += vec(i, 2)
        acc *= 0.5
    return total(acc), total(vec(0, 2))


def noisy(i):
    print("noisy", i)
    return float(i)


@schedule
def binned(n):
    s = np.zeros(3)
    m = np.zeros((4, 6))
    for i in range(n):
        s[i % 3] += val(i)
        m[i % 4, i % 3:i % 3 + 2] += vec(i, 2)
        m[(i + 1) % 4] -= val(i)
        s[...] *= 1.0 + val(i) / 100
    return s, m


@schedule
def bins_out_of_range(n):
    s = np.zeros(3)
    for i in range(n):
        print("bin", i)
        s[i] += noisy(i) + val(i)   # i == 3: IndexError before noisy(3) prints
    return s


@schedule
def bin_casting_fails(n):
    s = np.zeros(3, dtype=np.int64)
    for i in range(n):
        print("bin", i)
        s[i % 3] += val(i)   # 1.5 into an int array: UFuncTypeError at i == 1
    return s


@schedule
def bins_seen_in_loop(n):
    s = np.zeros(3)
    for i in range(n):
        s[i % 3] += val(i)
        print("first bin", s[0])
    return s


@schedule
def seen_through_alias(n):
    acc = np.zeros(2)
    same = acc
    for i in range(n):
        acc += vec(i, 2)
    return same


@schedule
def seen_through_view(n):
    acc = np.zeros(4)
    part = acc[1:3]
    sums = []
    for i in range(n):
        acc += vec(i, 4)
        sums.append(float(part.sum()))
    return sums


@schedule
def into_parameter(acc, n):
    for i in range(n):
        acc += vec(i, 2)
    return acc


@schedule
def read_in_loop(n):
    acc = np.zeros(2)
    seen = []
    for i in range(n):
        acc += vec(i, 2)
        seen.append(acc.tolist())
    return seen


@schedule
def inside_try(n, bad):
    acc = np.zeros(2)
    try:
        for i in range(n):
            acc += fails_at(i, bad)
    except ValueError as e:
        print("stopped:", e)
    return acc


@schedule
def not_arrays(n):
    count = 0
    total = 0.0
    parts = []
    for i in range(n):
        count += 1
        total += val(i)
        parts += [val(i)]
    return count, total, parts


def show(label, x):
    if isinstance(x, tuple):
        print(label, [np.asarray(v).tolist() for v in x])
    else:
        print(label, np.asarray(x).tolist())


for round_ in range(2):   # the second time with result categories learned
    print("round", round_)
    show("stack", stack(6))
    show("every_operator", every_operator(5))
    show("nested_while_and_stores", nested_while_and_stores(4))
    show("operands_mixed", operands_mixed(5))
    show("prints_between", prints_between(3))
    show("binned", binned(6))
    show("rebound", rebound(4))
    show("rebound_with_alias", rebound_with_alias(3))
    show("first_from_a_task", first_from_a_task(4))
    show("first_from_a_task_aliased", first_from_a_task_aliased(3))
    show("first_from_a_task_given_on", first_from_a_task_given_on(3))
    show("bins_seen_in_loop", bins_seen_in_loop(4))
    for fn, args in ((failing_task, (6, 3)), (casting_fails, (4,)), (shapes_fail, (4,)),
                     (bins_out_of_range, (5,)), (bin_casting_fails, (3,)),
                     (rebound_fails, (5, 2)), (first_task_fails, (3,))):
        try:
            show(fn.__name__, fn(*args))
        except Exception as e:
            print(fn.__name__, "raised", type(e).__name__, e)
    show("seen_through_alias", seen_through_alias(3))
    show("seen_through_view", seen_through_view(3))
    outer = np.zeros(2)
    show("into_parameter", into_parameter(outer, 3))
    show("outer", outer)
    show("read_in_loop", read_in_loop(3))
    show("inside_try", inside_try(5, 3))
    print("not_arrays", not_arrays(4))
