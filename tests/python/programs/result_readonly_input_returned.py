from pydron import schedule, functional

import dataclasses

import numpy as np

# A task returning its (read-only in the task) input array unchanged, a view of
# it, or arrays inside containers: the driver's results are always writable.

@dataclasses.dataclass
class Box:
    arr: np.ndarray

@functional
def same(a):
    return a

@functional
def view(a):
    return a[1:]

@functional
def wrapped(a, b):
    return [a], {"k": a}, Box(a), (b,)

@schedule
def main(n):
    def mk():
        return np.arange(n, dtype=np.float64).reshape(-1, 4)
    r = same(mk())
    r[0, 0] = -1
    v = view(mk())
    v[0, 0] = -2
    lst, d, box, tup = wrapped(mk(), mk().T)
    lst[0][0, 1] = -3
    d["k"][0, 2] = -4
    box.arr[0, 3] = -5
    t = tup[0]
    t[0, 0] = -6
    return float(r.sum()), float(v[:2].sum()), lst[0][0].tolist(), d["k"][0].tolist(), \
        box.arr[0].tolist(), t[0, :3].tolist()

if __name__ == "__main__":
    print(main(8))
    print(main(40_000))      # out-of-band buffers (>= 64 KiB)
    print(main(400_000))     # shared memory (>= 1 MiB)
