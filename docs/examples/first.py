"""A first pydron program: four independent measurements, then a summary."""

import math

from pydron import functional, schedule


@functional
def measure(star):
    """Pure: depends only on its argument, so it may run on any worker."""
    return sum(math.sin(star * k) ** 2 for k in range(200_000))


@schedule
def survey(stars):
    results = []
    for star in stars:                 # every iteration is submitted at once
        results.append(measure(star))  # a task on a worker process
    for star, r in zip(stars, results):
        print(f"star {star}: {r:.3f}")  # runs in program order, when r exists
    return max(results)


if __name__ == "__main__":
    print(f"brightest: {survey([1, 2, 3, 4]):.3f}")
