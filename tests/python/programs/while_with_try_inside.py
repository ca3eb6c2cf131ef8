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
def attempt(i):
    if i % 3 == 0:
        raise ValueError(f"try {i}")
    return i

@schedule
def main():
    i, ok = 0, []
    while len(ok) < 4:
        try:
            ok.append(attempt(i))
        except ValueError as e:
            print("retry after", e)
        i += 1
    return ok

if __name__ == "__main__":
    print(main())
