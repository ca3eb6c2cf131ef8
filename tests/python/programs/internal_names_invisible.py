# Objects the program gets back from builtins and nested defs look as in Python:
# type names, docstrings, names.
from pydron import schedule, functional


@functional
def sq(x):
    return x * x


@schedule
def main():
    e = enumerate([1, 2])
    z = zip([1], [2])
    m = map(str, [1])
    print(type(e).__name__, type(z).__name__, type(m).__name__, repr(type(e)), repr(type(z)))

    def helper(a):
        """helper's doc"""
        return sq(a)

    print(helper.__doc__, helper.__name__, helper.__qualname__, helper.__code__.co_argcount)
    print(helper(2), list(e), list(z), list(m))
    return helper


if __name__ == "__main__":
    h = main()
    print(h.__doc__)
