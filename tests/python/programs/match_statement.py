from pydron import schedule, functional

@functional
def make(i):
    return [(i,), {"kind": "pt", "x": i}, [i, i + 1, i + 2], "text", i][i % 5]

@schedule
def main():
    out = []
    for i in range(7):
        match make(i):
            case (x,):
                out.append(("tuple", x))
            case {"kind": "pt", "x": x}:
                out.append(("point", x))
            case [a, *rest] if a > 1:
                out.append(("list", a, rest))
            case str() as s:
                out.append(("str", s))
            case other:
                out.append(("other", other))
    return out

if __name__ == "__main__":
    print(main())
