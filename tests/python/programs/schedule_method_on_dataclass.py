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

from dataclasses import dataclass

@dataclass
class Scaler:
    k: int

    @schedule
    def run(self, xs):
        return [sq(x) * self.k for x in xs]

if __name__ == "__main__":
    print(Scaler(3).run([1, 2, 3]))
