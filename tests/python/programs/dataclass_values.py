from pydron import schedule, functional

from dataclasses import dataclass, field

@dataclass
class Star:
    name: str
    mag: float
    tags: list = field(default_factory=list)

@functional
def brighten(s, d):
    return Star(s.name, s.mag - d, s.tags + ["b"])

@schedule
def main():
    stars = [Star("a", 5.0), Star("b", 3.5)]
    out = [brighten(s, 1.5) for s in stars]
    best = min(out, key=lambda s: s.mag)
    return out, best.name

if __name__ == "__main__":
    print(main())
