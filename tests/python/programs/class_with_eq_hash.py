from pydron import schedule, functional

class Key:
    def __init__(self, k):
        self.k = k
    def __eq__(self, o):
        return isinstance(o, Key) and o.k == self.k
    def __hash__(self):
        return hash(self.k)
    def __repr__(self):
        return f"Key({self.k})"

@functional
def mk(i):
    return Key(i % 3)

@schedule
def main():
    ks = [mk(i) for i in range(7)]
    d = {}
    for k in ks:
        d[k] = d.get(k, 0) + 1
    return d, Key(1) in ks

if __name__ == "__main__":
    print(main())
