from pydron import schedule, functional

import time

# An instance of a script class made by one task is used by later tasks,
# while the driver changes a global its methods read and a class attribute
# between the calls: each task sees the state as of its own call, and the
# driver's class keeps reading the live globals afterwards.
THRESHOLD = 0.5


class Rule:
    weight = 2

    def passes(self, x):
        return x > THRESHOLD

    def w(self):
        return self.weight


@functional
def make():
    time.sleep(0.2)
    return Rule()


@functional
def use(r, x):
    return r.passes(x), r.w(), isinstance(r, Rule), type(r) is Rule


@schedule
def main():
    global THRESHOLD
    r = make()
    a = use(r, 0.7)
    THRESHOLD = 0.9
    Rule.weight = 5
    b = use(r, 0.7)
    print(a, b)
    print(Rule().passes(0.7), Rule.weight, isinstance(r, Rule), type(r) is Rule)
    THRESHOLD = 0.1
    print(Rule().passes(0.7), r.passes(0.7), r.w())


if __name__ == "__main__":
    main()
