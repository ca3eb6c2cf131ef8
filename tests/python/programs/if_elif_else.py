from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@schedule
def main(n):
    out = []
    for i in range(n):
        v = sq(i)
        if v > 20:
            out.append("big")
        elif v % 2:
            out.append("odd")
        else:
            out.append(v)
    return out

if __name__ == "__main__":
    print(main(8))
