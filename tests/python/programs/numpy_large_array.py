from pydron import schedule, functional

import numpy as np

@functional
def stats(a):
    return float(a.mean()), float(a.max())

@schedule
def main():
    a = np.linspace(0, 1, 2_000_000)
    parts = np.array_split(a, 4)
    res = [stats(p) for p in parts]
    return [(round(m, 6), round(x, 6)) for m, x in res]

if __name__ == "__main__":
    print(main())
