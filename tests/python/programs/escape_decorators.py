# Decorators inside @schedule: unknown code, run at their place in the program
# (after an earlier task's failure, never before), given values, not placeholders.
import functools

from pydron import schedule, functional


@functional
def sq(x):
    return x * x


@functional
def fail(x):
    raise ValueError(f"bad {x}")


registry = []


def register(fn):
    print("register", fn.__name__)
    registry.append(fn.__name__)
    return fn


def tag(value):
    def deco(fn):
        fn.tag = value
        return fn
    return deco


@schedule
def main():
    v = sq(3)

    @tag(v)
    @register
    def g():
        """g's doc"""
        return 1

    @functools.lru_cache
    def h(x):
        return x + v

    print(g.tag, g.__doc__, registry, h(1), h(1))
    try:
        x = fail(1)

        @register
        def later():
            return 2
    except ValueError as e:
        print("caught", e)
    y = fail(2)

    @register
    def never():
        return 3
    return g


if __name__ == "__main__":
    try:
        main()
    finally:
        print(registry)
