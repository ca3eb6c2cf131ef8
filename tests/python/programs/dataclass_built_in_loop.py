from dataclasses import dataclass, field

from pydron import schedule, functional

@dataclass
class Frame:
    idx: int
    pixels: list = field(default_factory=list)

@functional
def process(fr):
    return Frame(fr.idx, [p * 2 for p in fr.pixels])

@schedule
def main():
    out = []
    for i in range(5):
        fr = Frame(i, [i, i + 1])
        out.append(process(fr))
    print([f.pixels for f in out])
    return out[-1]

if __name__ == "__main__":
    print(main())
