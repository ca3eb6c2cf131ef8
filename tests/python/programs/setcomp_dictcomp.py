from pydron import schedule, functional

@functional
def mod(x):
    return x % 4

@schedule
def main():
    s = {mod(i) for i in range(10)}
    d = {i: mod(i) for i in range(6)}
    e = {mod(i): i for i in range(6)}
    return sorted(s), d, e

if __name__ == "__main__":
    print(main())
