from pydron import schedule, functional

import numpy as np

@functional
def smooth(a):
    return np.convolve(a, np.ones(3) / 3, mode="same")

@functional
def norm(a):
    return float(np.linalg.norm(a))

@schedule
def main():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=50) for _ in range(6)]
    smoothed = [smooth(a) for a in arrays]
    norms = [norm(s) for s in smoothed]
    stacked = np.stack(smoothed)
    return [round(n, 6) for n in norms], stacked.shape, round(float(stacked.sum()), 6)

if __name__ == "__main__":
    print(main())
