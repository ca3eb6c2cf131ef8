# One large array handed to many calls is copied once and reused while it is
# unchanged; every way the driver may change it in between (item store,
# augmented assignment, a method, out=, a view, a new array in its place) must
# still give each call the array as of that call, as plain Python does.
import numpy as np

from pydron import schedule, functional


@functional
def digest(a, k):
    return float(a[::997].sum()) + k, a.shape


@schedule
def main(n):
    a = np.arange(n, dtype=np.float64)  # 8 MiB for n = 1M
    view = a[10:]
    out = []
    for k in range(4):
        out.append(digest(a, k))  # unchanged: one copy for all four
    a[5] = -1.0
    out.append(digest(a, 10))
    a += 2.0
    out.append(digest(a, 11))
    a.fill(3.0)
    out.append(digest(a, 12))
    np.multiply(a, 2.0, out=a)
    out.append(digest(a, 13))
    view[0] = 123.0
    out.append(digest(a, 14))
    for k in range(3):
        a = np.full(n, float(k))  # a new array, maybe where the old one was
        out.append(digest(a, 20 + k))
    b = a
    b[1] = 7.0
    out.append(digest(a, 30))
    return out


if __name__ == "__main__":
    for line in main(1 << 20):
        print(line)
