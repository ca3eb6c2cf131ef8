# Results combined into a numpy array by a numpy function in a loop, the way
# scientists keep a running maximum or stack rows (`best = np.maximum(best,
# f(i))`, `acc = np.append(acc, f(i))`, `rows = np.vstack([rows, f(i)])`):
# the calls are deferred while the array is a local nobody else holds, and
# must give the sequential program's arrays, output and exceptions in every
# shape: element-wise functions (maximum, minimum, fmax, add, multiply,
# logical_or), appending and stacking (append with and without an axis,
# concatenate of a tuple, vstack, hstack, stack, column_stack), constant
# keyword arguments, a plain operand beside the task's, int and float arrays,
# nested and while loops, a break, the first array a task's result or a
# list; a failing task and a call that fails (shapes that do not stack or
# broadcast) raised at their iteration, the rest of the loop not run; and the
# cases where the array can be seen during the loop (an alias, one changed
# through it, a read in the loop, a parameter, a try statement around or in
# the loop, `out=`), a function of the program's own or an object that is
# not numpy in the same shape, where each call runs at its turn.
import numpy as np

from pydron import functional, schedule


@functional
def vec(i, n):
    return (np.arange(n) * 7 + i * 5) % 11 - 3.0


@functional
def ivec(i, n):
    return (np.arange(n, dtype=np.int64) * 3 + i) % 5


@functional
def row(i):
    return np.array([[i, i * 2.0]])


@functional
def fails_at(i, bad, n=2):
    if i == bad:
        raise ValueError(f"bad image {i}")
    return np.full(n, float(i))


@functional
def sized(i, bad):
    return np.ones(3 if i == bad else 2) * i


@schedule
def running_extremes(n):
    hi = np.full(3, -np.inf)
    lo = np.full(3, np.inf)
    fhi = np.zeros(3)
    for i in range(n):
        hi = np.maximum(hi, vec(i, 3))
        lo = np.minimum(lo, vec(i, 3))
        fhi = np.fmax(fhi, vec(i, 3))
    return hi, lo, fhi


@schedule
def elementwise(n):
    s = np.zeros(3)
    p = np.ones(3)
    mask = np.zeros(3, dtype=bool)
    for i in range(n):
        s = np.add(s, vec(i, 3))
        p = np.multiply(p, ivec(i, 3) + 1)
        mask = np.logical_or(mask, ivec(i, 3) == 4)
    return s, p, mask


@schedule
def appended(n):
    flat = np.zeros(0)
    rows = np.zeros((0, 2))
    for i in range(n):
        flat = np.append(flat, vec(i, 2))
        rows = np.append(rows, row(i), axis=0)
    return flat, rows


@schedule
def stacked(n):
    v = np.zeros((0, 2))
    h = np.zeros(0)
    c = np.zeros(0, dtype=np.int64)
    for i in range(n):
        v = np.vstack([v, row(i)])
        h = np.hstack((h, vec(i, 2)))
        c = np.concatenate((c, ivec(i, 3)), axis=0)
    return v, h, c


@schedule
def stacked_pairs(n):
    s = np.zeros((1, 2))
    cols = np.zeros((2, 0))
    for i in range(n):
        s = np.stack([s[0], vec(i, 2)])
        cols = np.column_stack([cols, vec(i, 2)])
    return s, cols


@schedule
def plain_operands(n):
    best = np.zeros(2)
    acc = np.zeros(0)
    for i in range(n):
        best = np.maximum(best, np.full(2, 1.5 * i))   # nothing pending in it
        best = np.maximum(best, vec(i, 2))
        acc = np.append(acc, [i, -i])
        acc = np.append(acc, vec(i, 1))
    return best, acc


@schedule
def nested_and_while(n):
    grid = np.zeros(2)
    for i in range(n):
        for j in range(2):
            grid = np.maximum(grid, vec(i * 2 + j, 2))
    k = 0
    seq = np.zeros(0)
    while k < n:
        seq = np.append(seq, vec(k, 1))
        k += 1
    return grid, seq


@schedule
def with_break(n):
    best = np.zeros(2)
    for i in range(n):
        if i == 3:
            break
        best = np.maximum(best, vec(i, 2))
    else:
        print("not reached")
    return best


@schedule
def prints_between(n):
    acc = np.zeros(0)
    for i in range(n):
        print("adding", i)
        acc = np.append(acc, vec(i, 2))
        print("added", i)
    print("all", acc)
    return acc


@schedule
def first_from_a_task(n):
    best = vec(0, 3)
    rows = row(0)
    for i in range(1, n):
        best = np.maximum(best, vec(i, 3))
        rows = np.vstack([rows, row(i)])
    return best, rows


@schedule
def first_a_list(n):
    acc = [0.5]
    for i in range(n):
        acc = np.append(acc, vec(i, 1))
    return acc


@schedule
def failing_task(n, bad):
    best = np.zeros(2)
    for i in range(n):
        print("call", i)
        best = np.maximum(best, fails_at(i, bad))
    return best


@schedule
def stack_fails(n, bad):
    rows = np.zeros((0, 2))
    for i in range(n):
        print("row", i)
        rows = np.vstack([rows, sized(i, bad)])
    return rows


@schedule
def broadcast_fails(n, bad):
    best = np.zeros(2)
    for i in range(n):
        best = np.maximum(best, sized(i, bad))
        print("kept", i)
    return best


@schedule
def seen_through_alias(n):
    best = np.zeros(2)
    first = best
    for i in range(n):
        best = np.maximum(best, vec(i, 2))
    return first, best


@schedule
def alias_changed_in_loop(n):
    best = np.zeros(2)
    rows = np.zeros((0, 2))
    first, first_rows = best, rows
    for i in range(n):
        best = np.maximum(best, vec(i, 2))
        rows = np.vstack([rows, row(i)])
        first += 100.0
        first_rows[:] = -1.0
    return first, best, rows


@schedule
def read_in_loop(n):
    best = np.zeros(2)
    seen = []
    for i in range(n):
        best = np.maximum(best, vec(i, 2))
        seen.append(best.tolist())
    return seen


@schedule
def into_parameter(best, n):
    for i in range(n):
        best = np.maximum(best, vec(i, 2))
    return best


@schedule
def inside_try(n, bad):
    best = np.zeros(2)
    try:
        for i in range(n):
            best = np.maximum(best, fails_at(i, bad))
    except ValueError as e:
        print("stopped:", e)
    return best


@schedule
def skip_bad_in_loop(n, bad):
    best = np.zeros(2)
    rows = np.zeros((0, 2))
    for i in range(n):
        try:
            best = np.maximum(best, fails_at(i, bad))
            rows = np.vstack([rows, fails_at(i, bad)])
        except ValueError as e:
            print("skip", e, best.tolist(), rows.shape)
    return best, rows


@schedule
def with_out(n):
    best = np.zeros(2)
    keep = best
    for i in range(n):
        best = np.maximum(best, vec(i, 2), out=best)
    return keep, best


def merge(a, b):
    print("merging", np.asarray(a).tolist())
    return np.maximum(a, b)


class NotNumpy:
    calls = []

    @staticmethod
    def maximum(a, b):
        NotNumpy.calls.append(np.asarray(b).tolist())
        return np.maximum(a, b)


@schedule
def own_function(n):
    best = np.zeros(2)
    other = np.zeros(2)
    nn = NotNumpy
    for i in range(n):
        best = merge(best, vec(i, 2))
        other = nn.maximum(other, vec(i, 2))
    return best, other


def show(label, x):
    if isinstance(x, tuple):
        print(label, [np.asarray(v).tolist() for v in x])
    else:
        print(label, np.asarray(x).tolist())


for round_ in range(2):   # the second time with result categories learned
    print("round", round_)
    show("running_extremes", running_extremes(6))
    show("elementwise", elementwise(5))
    show("appended", appended(4))
    show("stacked", stacked(4))
    show("stacked_pairs", stacked_pairs(3))
    show("plain_operands", plain_operands(4))
    show("nested_and_while", nested_and_while(3))
    show("with_break", with_break(6))
    show("prints_between", prints_between(3))
    show("first_from_a_task", first_from_a_task(4))
    show("first_a_list", first_a_list(3))
    for fn, args in ((failing_task, (6, 3)), (stack_fails, (5, 2)), (broadcast_fails, (5, 3))):
        try:
            show(fn.__name__, fn(*args))
        except Exception as e:
            print(fn.__name__, "raised", type(e).__name__, e)
    show("seen_through_alias", seen_through_alias(3))
    show("alias_changed_in_loop", alias_changed_in_loop(3))
    show("read_in_loop", read_in_loop(3))
    outer = np.zeros(2)
    show("into_parameter", into_parameter(outer, 3))
    show("outer", outer)
    show("inside_try", inside_try(5, 3))
    show("skip_bad_in_loop", skip_bad_in_loop(6, 2))
    show("with_out", with_out(3))
    show("own_function", own_function(3))
    print("not numpy saw", NotNumpy.calls)
    NotNumpy.calls.clear()
