from pydron import schedule, functional

import time

# Other places a task reads the program's state from: a dict in a closure
# cell, a mutable default argument; each changed between calls, the second
# task running late.

@functional
def slow(x):
    time.sleep(0.2)
    return x

EXTRA = [0]

def make_task():
    table = {"k": 1}

    @functional
    def task(x, extra=EXTRA):
        return x, table["k"], sum(extra)

    def change():
        table["k"] += 10
    return task, change

TASK, CHANGE = make_task()

@schedule
def main():
    out = [TASK(slow(1))]
    CHANGE()
    EXTRA.append(7)
    out.append(TASK(slow(1)))
    EXTRA.append(100)
    return out

if __name__ == "__main__":
    print(main())
