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

import json

@schedule
def main():
    d = {"vals": [sq(i) for i in range(4)], "name": ident("run")}
    return json.dumps(d, sort_keys=True)

if __name__ == "__main__":
    print(main())
