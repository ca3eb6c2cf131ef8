# A task that prints or logs and returns a large value (an image, a big list):
# the value may stay where the task ran (it goes on to another task, or the
# program reads it only later or never), but what the task printed comes at
# its place in program order, as in plain Python.
import logging
import sys
import warnings

import numpy as np

from pydron import functional, schedule


@functional
def calibrate(i):
    print("calibrating", i)
    return np.full((300, 300), float(i))


@functional
def catalog(i):
    logging.getLogger("pipeline").warning("catalog %d", i)
    return [i] * 5000


@functional
def quiet(i):
    return np.full(100000, float(i))


@functional
def flagged(i):
    warnings.warn(f"saturated pixels in frame {i}")
    print("flagging", i, file=sys.stderr)
    return np.zeros((200, 200)) + i


@functional
def measure(img):
    return float(img.mean())


@schedule
def main():
    logging.basicConfig(format="%(levelname)s %(name)s %(message)s")
    means = []
    for i in range(4):
        img = calibrate(i)           # never read by the program
        means.append(measure(img))
        print("queued", i)
    print("means", means)
    unused = [calibrate(10 + i) for i in range(3)]
    print("made", len(unused))
    cats = [catalog(i) for i in range(3)]
    print("catalogs", [len(c) for c in cats])
    q = quiet(1)
    print("quiet", measure(q))
    late = calibrate(20)
    print("before reading late")
    print("late", late[0, 0])
    calibrate(30)
    flags = [flagged(i) for i in range(2)]  # read only by tasks
    print("flag means", [measure(f) for f in flags])
    print("end")


if __name__ == "__main__":
    main()
