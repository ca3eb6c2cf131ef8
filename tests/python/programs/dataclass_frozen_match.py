from pydron import schedule, functional

from dataclasses import dataclass

@dataclass(frozen=True)
class Obs:
    band: str
    flux: float

@functional
def observe(i):
    return Obs("gri"[i % 3], i * 1.5)

@schedule
def main():
    out = []
    for i in range(6):
        match observe(i):
            case Obs(band="g", flux=f):
                out.append(("green", f))
            case Obs(band=b, flux=f) if f > 5:
                out.append((b, "bright"))
            case Obs():
                out.append("other")
    return out

if __name__ == "__main__":
    print(main())
