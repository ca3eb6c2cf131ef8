from pydron import schedule, functional

@functional
def sq(x):
    return x * x

def main():
    return [sq(i) for i in range(5)]

if __name__ == "__main__":
    print(main())
