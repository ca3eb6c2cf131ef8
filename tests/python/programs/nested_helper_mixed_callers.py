from pydron import schedule, functional

@functional
def sq(x):
    return x * x

def apply_plain(f, xs):
    return [f(x) + 1 for x in xs]

@schedule
def main():
    def h(x):
        if x > 2:
            return sq(x)
        return x
    direct = [h(i) for i in range(5)]
    via_plain = apply_plain(h, range(5))
    via_map = list(map(h, range(3)))
    return direct, via_plain, via_map, max(range(5), key=h)

if __name__ == "__main__":
    print(main())
