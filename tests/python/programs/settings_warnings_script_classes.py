# Warning classes defined in the script, named by the script's warnings
# filters: a filter turning a base class into an error applies to its
# subclass too, another class is ignored, a third is shown. Tasks catch the
# warning turned error themselves, record warnings with catch_warnings, or
# let one propagate. On every executor the tasks see the filters as the
# sequential program does (the in-process executors run copies of the
# script's classes, which must still match filters naming the originals).
import warnings

from pydron import functional, schedule


class CalibrationWarning(UserWarning):
    pass


class DriftWarning(CalibrationWarning):
    level = 2


class NoiseWarning(UserWarning):
    pass


class ShownWarning(UserWarning):
    pass


@functional
def frame(i):
    out = [i]
    try:
        warnings.warn(f"frame {i} drifts", DriftWarning)
        out.append("drift not raised")
    except CalibrationWarning as e:
        out.append(f"caught {type(e).__name__} (level {type(e).level}): {e}")
    warnings.warn(f"frame {i} is noisy", NoiseWarning)  # ignored
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        warnings.warn(f"frame {i} recorded", CalibrationWarning)
    out.append([(w.category.__name__, str(w.message)) for w in got])
    return out


@functional
def shown(i):
    warnings.warn("shown once per place", ShownWarning)
    return i


@functional
def uncaught(i):
    if i == 3:
        warnings.warn(f"frame {i} failed calibration", CalibrationWarning)
    return i


@schedule
def main(n):
    res = [frame(i) for i in range(n)]
    res.append([shown(i) for i in range(3)])
    return res


@schedule
def failing(n):
    return [uncaught(i) for i in range(n)]


if __name__ == "__main__":
    warnings.simplefilter("error", CalibrationWarning)
    warnings.simplefilter("ignore", NoiseWarning)
    for r in main(4):
        print(r)
    try:
        failing(6)
    except CalibrationWarning as e:
        print("driver caught", type(e).__name__, e)
    failing(5)
