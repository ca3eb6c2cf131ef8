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

class AppError(Exception):
    pass

class DataError(AppError):
    pass

@functional
def load(i):
    if i == 2:
        raise DataError(f"corrupt {i}")
    return i

@schedule
def main():
    out = []
    for i in range(4):
        try:
            out.append(load(i))
        except AppError as e:
            out.append((type(e).__name__, str(e)))
    return out

if __name__ == "__main__":
    print(main())
