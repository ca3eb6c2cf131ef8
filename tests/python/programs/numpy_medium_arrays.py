from pydron import schedule, functional

import time

@functional
def sq(x):
    return x * x

@functional
def slow_fail(msg):
    time.sleep(0.1)
    raise ValueError(msg)

@functional
def fail(msg):
    raise ValueError(msg)

@functional
def ident(x):
    return x

import numpy as np

@functional
def fft_power(a):
    return float(np.abs(np.fft.rfft(a)).max())

@schedule
def main():
    rng = np.random.default_rng(3)
    chunks = [rng.normal(size=1 << 16) for _ in range(8)]
    powers = [fft_power(c) for c in chunks]
    return [round(p, 3) for p in powers]

if __name__ == "__main__":
    print(main())
