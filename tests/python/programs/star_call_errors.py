# Python's own messages for `*`/`**` arguments that are not iterables or
# mappings, and for repeated keywords, in every kind of call.
from pydron import schedule, functional


@functional
def sq(x):
    return x * x


def f(*a, **k):
    return a, k


class K:
    def m(self, *a, **k):
        return a


@schedule
def main():
    attempts = [
        lambda: f(*1), lambda: f(**1), lambda: f(*None), lambda: f(**[1]),
        lambda: f(a=1, **{"a": 2}), lambda: sq(*1), lambda: sq(**1), lambda: print(*5),
        lambda: len(*3), lambda: f(**{1: 2}), lambda: K().m(*1), lambda: [*5],
    ]
    for bad in attempts:
        try:
            bad()
        except TypeError as e:
            print("lambda:", e)
    k = K()
    for what in ["f*", "f**", "sq*None", "sq**", "dup", "sqdup", "f*task", "f**task", "print*",
                 "method*", "method**", "list*", "dict**", "unpack", "for", "starred-target"]:
        try:
            if what == "f*":
                f(*1)
            elif what == "f**":
                f(**1)
            elif what == "sq*None":
                sq(*None)
            elif what == "sq**":
                sq(**[("x", 1)])
            elif what == "dup":
                f(a=1, **{"a": 2})
            elif what == "sqdup":
                sq(x=1, **{"x": 2})
            elif what == "f*task":
                f(*sq(2))
            elif what == "f**task":
                f(**sq(2))
            elif what == "print*":
                print(*sq(3))
            elif what == "method*":
                k.m(*sq(2))
            elif what == "method**":
                k.m(**sq(2))
            elif what == "list*":
                print([*sq(2)])
            elif what == "dict**":
                print({**sq(2)})
            elif what == "unpack":
                a, b = sq(2)
            elif what == "for":
                for x in sq(2):
                    pass
            elif what == "starred-target":
                a, *b = sq(2)
        except TypeError as e:
            print(what, e)
    print(f(*[sq(2)], **{"k": sq(3)}), k.m(*(sq(1), sq(2))))
    return 0


if __name__ == "__main__":
    main()
