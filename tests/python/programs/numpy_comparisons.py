from pydron import schedule, functional

import numpy as np

@functional
def arr(i):
    return np.array([i, i + 1, i + 2])

@schedule
def main():
    a, b = arr(1), arr(2)
    return (a < b).all(), bool((a == b - 1).all()), np.maximum(a, b).tolist(), (a @ b)

if __name__ == "__main__":
    print(main())
