# A calibration pipeline written the way an astronomer writes it: per-image
# statistics unpacked into preallocated arrays, a selection by a threshold,
# a generator expression summed over the selection, f-string reports, a
# second pass that refills an array from the first, and a failing image in
# a later run. Deferred stores, deferred unpacking, look-ahead and the
# generator expression's twin all meet here; the output must be plain
# Python's.
import numpy as np

from pydron import functional, schedule


@functional
def calibrate(img, bias):
    if img[0, 0] < 0:
        raise ValueError(f"corrupt frame starting {img[0, 0]}")
    return (img - bias) * 1.5


@functional
def stats(frame):
    return float(frame.mean()), float(frame.std())


@functional
def score(frame, weight):
    return float((frame * weight).sum())


def frames(n, bad=None):
    rng = np.random.default_rng(7)
    out = [rng.normal(10.0 + i, 1.0 + (i % 3), size=(8, 8)) for i in range(n)]
    if bad is not None:
        out[bad][0, 0] = -1.0
    return out


@schedule
def pipeline(images, bias, thr):
    n = len(images)
    means = np.zeros(n)
    stds = np.zeros(n)
    cals = []
    for i, img in enumerate(images):
        cal = calibrate(img, bias)
        cals.append(cal)
        means[i], stds[i] = stats(cal)
    good = [i for i in range(n) if stds[i] < thr]
    total = sum(score(cals[i], 0.5) for i in good)
    print(f"{len(good)} of {n} good, total {total:.3f}")
    ranked = np.empty(len(good))
    for k, i in enumerate(good):
        m, s = stats(cals[i])
        ranked[k] = m / s
    print("ranked", np.round(ranked, 4).tolist())
    return np.round(means, 4).tolist(), np.round(stds, 4).tolist()


@schedule
def main():
    print(pipeline(frames(6), 0.5, 2.5))
    print(pipeline(frames(4), 1.0, 0.1))
    try:
        print(pipeline(frames(5, bad=3), 0.5, 2.5))
    except ValueError as e:
        print("failed:", e)


if __name__ == "__main__":
    main()
