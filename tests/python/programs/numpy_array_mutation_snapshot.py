from pydron import schedule, functional

import numpy as np

@functional
def total(a):
    return float(a.sum())

@schedule
def main():
    a = np.arange(10.0)
    t1 = total(a)
    a[:] = 0
    t2 = total(a)
    a += 5
    return t1, t2, total(a), a[:3].tolist()

if __name__ == "__main__":
    print(main())
