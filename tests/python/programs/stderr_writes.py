from pydron import schedule, functional

import sys

@functional
def sq(x):
    return x * x

@schedule
def main():
    for i in range(3):
        v = sq(i)
        sys.stderr.write(f"progress {i}\n")
        print(v)
    print("done", file=sys.stderr)
    return "ok"

if __name__ == "__main__":
    print(main())
