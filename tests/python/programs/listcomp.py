from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@schedule
def main(n):
    a = [sq(i) for i in range(n)]
    b = [sq(i) for i in range(n) if i % 2]
    c = [sq(i) + j for i in range(3) for j in range(2)]
    return a, b, c

if __name__ == "__main__":
    print(main(6))
