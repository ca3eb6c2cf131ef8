from pydron import schedule, functional

@functional
def seq(n):
    return list(range(n))

@schedule
def main():
    xs = seq(10)
    a = xs[2:5]
    b = xs[::-2]
    c = xs[seq(3)[1]:seq(5)[4]]
    ys = list(range(10))
    ys[1:3] = [seq(2), seq(1)]
    del ys[5:7]
    return a, b, c, ys

if __name__ == "__main__":
    print(main())
