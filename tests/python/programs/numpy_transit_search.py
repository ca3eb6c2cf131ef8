from pydron import schedule, functional

import numpy as np

@functional
def light_curve(seed, n):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    flux = 1 + rng.normal(0, 0.001, n)
    period, depth = 20 + seed % 7, 0.01
    flux[(t % period) < 2] -= depth
    return flux

@functional
def bls(flux, periods):
    best = None
    t = np.arange(len(flux))
    for p in periods:
        inside = (t % p) < 2
        d = flux[~inside].mean() - flux[inside].mean()
        if best is None or d > best[1]:
            best = (int(p), round(float(d), 4))
    return best

@schedule
def main():
    curves = [light_curve(s, 400) for s in range(6)]
    found = [bls(c, range(15, 30)) for c in curves]
    detections = [f for f in found if f[1] > 0.005]
    return found, len(detections)

if __name__ == "__main__":
    print(main())
