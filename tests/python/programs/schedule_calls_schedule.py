from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@schedule
def sum_sq(xs):
    total = 0
    for x in xs:
        total += sq(x)
    return total

@schedule
def main():
    parts = []
    for k in range(4):
        parts.append(sum_sq(range(k * 3, k * 3 + 3)))
    return parts, sum_sq(parts)

if __name__ == "__main__":
    print(main())
