# Default values of nested defs and lambdas are values: in __defaults__, when
# the function is called after the @schedule call returned, and for unknown code.
import inspect

from pydron import schedule, functional


@functional
def sq(x):
    return x * x


@schedule
def main():
    v = sq(3)

    def g(a=v, *, b=sq(4)):
        return a, b

    h = lambda a=v, *, k=[v]: (a, k)
    print(g.__defaults__, g.__kwdefaults__)
    print(h.__defaults__, h.__kwdefaults__)
    print(inspect.signature(g))
    print(g(), h())
    return g, h


if __name__ == "__main__":
    g, h = main()
    print(g(), h(), g.__defaults__, h.__kwdefaults__)
