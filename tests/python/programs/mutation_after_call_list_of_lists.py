from pydron import schedule, functional

import time

@functional
def sq(x):
    return x * x

@functional
def slow_fail(msg):
    time.sleep(0.1)
    raise ValueError(msg)

@functional
def fail(msg):
    raise ValueError(msg)

@functional
def ident(x):
    return x

@functional
def total(rows):
    return sum(sum(r) for r in rows)

@schedule
def main():
    rows = [[1, 2], [3]]
    a = total(rows)
    rows[0].append(10)
    rows.append([100])
    b = total(rows)
    return a, b

if __name__ == "__main__":
    print(main())
