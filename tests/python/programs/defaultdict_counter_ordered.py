from collections import Counter, OrderedDict, defaultdict

from pydron import schedule, functional

@functional
def classify(i):
    return "even" if i % 2 == 0 else "odd"

@functional
def sq(x):
    return x * x

@schedule
def main():
    groups = defaultdict(list)
    for i in range(7):
        groups[classify(i)].append(sq(i))
    counts = Counter()
    for i in range(7):
        counts[classify(i)] += 1
    od = OrderedDict()
    for i in (3, 1, 2):
        od[i] = sq(i)
    od.move_to_end(3)
    return dict(groups), counts.most_common(), list(od.items())

if __name__ == "__main__":
    print(main())
