from pydron import schedule, functional

import warnings

import numpy as np

# warnings.simplefilter("error") in the script: a warning in a task raises
# there, as in the sequential program (numpy's divide-by-zero warning too);
# a category the script ignores stays silent.
warnings.simplefilter("error")
warnings.filterwarnings("ignore", category=DeprecationWarning)

@functional
def risky(x):
    warnings.warn(f"deprecated {x}", DeprecationWarning)
    if x > 1:
        warnings.warn(f"x={x} is large", UserWarning)
    return x

@functional
def ratio(a, b):
    return float(np.float64(a) / np.float64(b))

@schedule
def main():
    out = [risky(1)]
    try:
        out.append(risky(2))
    except UserWarning as e:
        out.append(f"caught {type(e).__name__}: {e}")
    try:
        out.append(ratio(1, 0))
    except RuntimeWarning as e:
        out.append(f"caught {type(e).__name__}: {e}")
    return out

if __name__ == "__main__":
    print(main())
