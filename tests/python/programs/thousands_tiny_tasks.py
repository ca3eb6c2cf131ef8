from pydron import schedule, functional

@functional
def inc(x):
    return x + 1

@schedule
def main(n):
    out = []
    for i in range(n):
        out.append(inc(i))
    return sum(out), out[:5], out[-1]

if __name__ == "__main__":
    print(main(3000))
