from pydron import schedule, functional

@functional
def get(i):
    return i * 3

@schedule
def main():
    out = []
    i = 0
    while (v := get(i)) < 12:
        out.append(v)
        i += 1
    ys = [y for x in range(5) if (y := get(x)) % 2 == 0]
    return out, ys, v

if __name__ == "__main__":
    print(main())
