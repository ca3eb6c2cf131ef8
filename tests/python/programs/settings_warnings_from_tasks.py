from pydron import schedule, functional

import logging
import sys
import warnings

# Warnings issued in tasks reach the program's warnings machinery: with
# logging.captureWarnings they are log records (here on stdout); the default
# filter shows each place once, however many tasks (and workers) warn. (The
# tasks form a chain: on the threads executor, which of two tasks running at
# once warns first at a place is up to the threads.)
logging.basicConfig(stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
logging.captureWarnings(True)

class CalibrationWarning(UserWarning):
    pass

@functional
def calibrate(x, prev):
    if x % 2:
        warnings.warn("odd frame", CalibrationWarning)
    warnings.warn(f"frame {x} is old", UserWarning)
    return x * 2

@schedule
def main():
    out = [0]
    for i in range(6):
        out.append(calibrate(i, out[-1]))
        print("called", i)
    return out

if __name__ == "__main__":
    print(main())
