from pydron import schedule, functional

import numpy as np

@functional
def measure_bias(img):
    return float(np.median(img[:, :4]))

@functional
def measure_flat(img):
    return img.mean(axis=0) / img.mean()

@functional
def calibrate(img, bias, flat):
    return (img - bias) / flat

@schedule
def main(n):
    rng = np.random.default_rng(42)
    frames = [rng.normal(100, 5, size=(16, 16)) for _ in range(n)]
    out = []
    for f in frames:
        out.append(calibrate(f, measure_bias(f), measure_flat(f)))
    stack = np.stack(out)
    return stack.shape, np.round(stack.mean(), 6), np.round(stack.std(), 6)

if __name__ == "__main__":
    print(main(10))
