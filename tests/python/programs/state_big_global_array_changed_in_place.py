from pydron import schedule, functional

import numpy as np

# A large module-level array (1 MiB: its bytes are hashed, not pickled, to see
# whether it changed) read by a task, changed in place between calls in every
# way a program can: item store, +=, out=, a method, a helper function, plain
# code between two @schedule calls, a generator stepped by a loop. Each task sees the array as of its call.
BIG = np.zeros(1 << 17)
TABLE = {"w": np.ones(1 << 14)}

@functional
def probe(tag):
    return tag, float(BIG[0]), float(BIG.sum()), float(TABLE["w"][-1])

def bump_helper():
    BIG[1] += 100

def frames():
    for i in range(2):
        BIG[5] = 10 + i  # a generator of the program changes it between items
        yield i

@schedule
def main():
    out = [probe("start")]
    BIG[0] = 1
    out.append(probe("setitem"))
    BIG[2:4] += 5
    out.append(probe("slice aug"))
    b = BIG
    b += 1
    out.append(probe("aug"))
    np.add(BIG, 2, out=BIG)
    out.append(probe("out="))
    BIG.fill(0.5)
    out.append(probe("fill"))
    bump_helper()
    out.append(probe("helper"))
    TABLE["w"][-1] = 7
    out.append(probe("nested item"))
    for i in range(3):
        out.append(probe(f"loop {i}"))
    for i in frames():
        out.append(probe(f"generator {i}"))
    return out

if __name__ == "__main__":
    for row in main():
        print(row)
    BIG[:] = 2
    print(main()[0])
