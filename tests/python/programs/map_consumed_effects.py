# map(g, ...) handed to a builtin that consumes it whole. With g a
# @functional function every call is submitted first; with g a function of
# the program (it prints), a consumer that fails at an item (sum of an int
# and a str, min comparing them, set of an unhashable value, dict of a
# non-pair) must not have run g on the items after it.
from pydron import functional, schedule


@functional
def sq(x):
    return x * x


@functional
def box(x):
    return [x]


def shout(x):
    print("shout", x)
    return x


@schedule
def main():
    print("functional", sum(map(sq, range(6))), max(map(sq, [3, -5, 2])), sorted(map(sq, [3, 1, 2])))
    print("plain", sum(map(shout, [sq(1), sq(2), 3])))
    try:
        print(sum(map(shout, [sq(1), "a", sq(2), sq(3)])))
    except TypeError as e:
        print("caught", e)
    try:
        print(min(map(shout, [sq(2), "b", sq(3)])))
    except TypeError as e:
        print("caught", e)
    try:
        print(set(map(shout, [sq(1), box(2), sq(3)])))
    except TypeError as e:
        print("caught", e)
    try:
        print(dict(map(shout, [(1, sq(1)), sq(2), (3, sq(3))])))
    except TypeError as e:
        print("caught", e)
    print("sorted", sorted(map(shout, [sq(3), sq(1), sq(2)])))
    print("any", any(map(shout, [0, sq(1), sq(2)])))
    print("enumerate", sum(i * v for i, v in enumerate(map(shout, [sq(1), sq(2)]))))
    try:
        print(sum(map(sq, [1, "a", 2])))
    except TypeError as e:
        print("caught", e)
    return "done"


if __name__ == "__main__":
    print(main())
