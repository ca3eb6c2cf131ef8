from pydron import schedule, functional

import numpy as np

@functional
def row(i, n):
    return np.arange(n) * i

@schedule
def main():
    m = np.zeros((5, 4))
    for i in range(5):
        m[i] = row(i, 4)
    m[:, 0] = row(2, 5)
    return m.tolist()

if __name__ == "__main__":
    print(main())
