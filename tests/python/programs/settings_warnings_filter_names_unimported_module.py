import sys
import warnings

from pydron import schedule, functional

import numpy as np  # after pydron: numpy's own filters join the program's

# Filters naming classes of a module the tasks have not imported yet: the
# worker does not import numpy to read them, and they still apply once a
# task imports it (as in the sequential program, where numpy is there).
warnings.filterwarnings("error", category=np.exceptions.ComplexWarning)
warnings.filterwarnings("ignore", category=np.exceptions.RankWarning)


class MyWarning(UserWarning):
    pass


warnings.filterwarnings("error", category=MyWarning)


@functional
def plain(x):
    warnings.warn(f"plain {x}", UserWarning)  # no filter names it: shown
    return x * 2


@functional
def to_real(z):
    import numpy

    a = numpy.array([z], dtype=complex)
    try:
        b = a.astype(float)  # ComplexWarning: an error under the filter
        return f"cast {b[0]}"
    except numpy.exceptions.ComplexWarning as e:
        return f"caught ComplexWarning: {e}"


@functional
def fit():
    import numpy

    with warnings.catch_warnings(record=True) as rec:
        warnings.warn("rank deficient", numpy.exceptions.RankWarning)  # ignored
        warnings.warn("mine", MyWarning)  # an error under the filter: raises out of fit
    return len(rec)


@functional
def warn_mine():
    try:
        warnings.warn("mine", MyWarning)
    except MyWarning as e:
        return f"caught MyWarning: {e}"
    return "not raised"


@functional
def plain_issubclass():
    # a plain task sees the filters' classes as the sequential program does
    f = [c for a, m, c, mod, ln in warnings.filters if a == "error"]
    return [c.__name__ for c in f]


@schedule
def main():
    out = [plain(1), plain(2)]
    out.append(to_real(1 + 2j))
    out.append(warn_mine())
    try:
        out.append(fit())
    except MyWarning as e:
        out.append(f"fit raised MyWarning: {e}")
    out.append(plain_issubclass())
    return out


if __name__ == "__main__":
    print(main())
