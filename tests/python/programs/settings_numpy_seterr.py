from pydron import schedule, functional

import numpy as np

# np.seterr(all="raise") at the top of the script: a task dividing by zero
# raises FloatingPointError as the sequential program does; errstate between
# calls counts as of the call.
np.seterr(all="raise")

@functional
def ratio(a, b):
    return float(np.float64(a) / np.float64(b))

@schedule
def main():
    out = [ratio(1, 4)]
    try:
        out.append(ratio(1, 0))
    except FloatingPointError as e:
        out.append(f"raised: {e}")
    with np.errstate(divide="ignore"):
        out.append(ratio(1, 0))
    return out

if __name__ == "__main__":
    print(main())
    np.seterr(all="ignore")
    print(main())
    np.seterr(divide="raise")
    print(ratio(2, 4), main()[1])
