"""Values from 160 KB to just over the 1 MiB shared-memory threshold travel
as task results, driver arrays and fetched results in every direction at
once: results read by the driver while later tasks taking them (and a driver
array of the same size) are sent to the same worker."""
import numpy as np

from pydron import functional, schedule

SIZES = [160_000, 300_000, 600_000, (1 << 20) - 64, 1 << 20, (1 << 20) + 64]


@functional
def make(nbytes, seed):
    return (np.arange(nbytes, dtype=np.int64) * (seed + 1) % 251).astype(np.uint8)


@functional
def mix(a, b):
    return a * np.uint8(3) + b


@schedule
def main():
    for nbytes in SIZES:
        d = np.full(nbytes, 7, dtype=np.uint8)
        for seed in range(12):
            x = make(nbytes, seed)
            y = mix(x, d)
            z = mix(x, d + np.uint8(1))
            print(nbytes, seed, int(y.sum()), int(z[-1000:].sum()), len(z))


if __name__ == "__main__":
    main()
