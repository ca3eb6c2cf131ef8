# More calls than the look-ahead window: finished results replace their
# placeholders in the lists they were appended to (flat driver memory). Lists
# changed meanwhile (insert, pop, slice assignment, a list that is also
# appended elsewhere) must still end up exactly as in plain Python.
from pydron import schedule, functional


@functional
def sq(x):
    return x * x


@functional
def pair(x):
    return (x, [x])  # mutable inside: stays a placeholder until read


@schedule
def main(n):
    out = []
    other = []
    for i in range(n):
        v = sq(i)
        out.append(v)
        if i % 3000 == 1:
            out.insert(0, "front")
        if i % 4000 == 2:
            out.pop(1)
        if i % 5000 == 3:
            other.append(v)
            out[5:7] = [-1]
    mixed = []
    for i in range(50):
        mixed.append(pair(i))
    mixed[3][1].append("changed")
    return len(out), out[:8], out[-3:], sum(x for x in out if type(x) is int), other, mixed[3], mixed[49]


if __name__ == "__main__":
    print(main(12500))
