# Closures made in a @schedule body (methods, nested defs, lambdas) that are
# called after it returned see the values of the results they close over.
from pydron import schedule, functional


@functional
def sq(x):
    return x * x


@schedule
def main():
    v = sq(3)
    w = [sq(4)]
    d = {"k": sq(5)}

    class Box:
        def show(self):
            print("show", v, w, d)
            return str(v) + "!"

        def items(self):
            return [v, w]

    def show():
        print("fn", v, "{}".format(v), repr(w))

    lam = lambda: print("lam", v, *w)
    counters = [lambda i=i: (i, v) for i in range(2)]
    return Box(), show, lam, counters


if __name__ == "__main__":
    box, show, lam, counters = main()
    print(box.show())
    show()
    lam()
    print(box.items(), [c() for c in counters])
