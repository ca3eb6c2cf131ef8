from pydron import schedule, functional

import os, tempfile

@functional
def render(i):
    return f"line {i * i}\n"

@schedule
def main():
    path = os.path.join(tempfile.mkdtemp(), "out.txt")
    lines = [render(i) for i in range(5)]
    with open(path, "w") as fh:
        for l in lines:
            fh.write(l)
    with open(path) as fh:
        return fh.read()

if __name__ == "__main__":
    print(main())
