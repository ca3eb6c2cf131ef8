from pydron import schedule, functional

import dataclasses

# Instances of script classes handed to many calls while the driver changes
# what their classes' pickles carry, between calls and back again: a class
# attribute, a private one, a list attribute changed in place, a method
# replaced, a global a method reads, a base class's attribute, an attribute
# added and deleted. Each call sees its classes as of the call (the loops are
# long enough for calls to be batched).
SCALE = 2


class Base:
    unit = "m"

    def tag(self):
        return self.unit + "!"


@dataclasses.dataclass
class Settings(Base):
    gain: float
    offset: float = 0.0
    mode = "lin"
    _bias = 0
    table = [1, 2, 3]

    def apply(self, x):
        y = x * self.gain * SCALE + self.offset + self._bias + sum(self.table)
        return y if self.mode == "lin" else -y


@functional
def calib(s, x):
    extra = getattr(type(s), "extra", None)
    return s.apply(x), s.tag(), extra


def apply_sq(self, x):
    return x * x * self.gain


@schedule
def main():
    global SCALE
    s = Settings(1.5, 0.25)
    orig = Settings.apply
    out = []
    for step in range(12):
        for i in range(60):
            out.append(calib(s, i))
        if step == 0:
            Settings.mode = "neg"
        elif step == 1:
            Settings.mode = "lin"        # back to the first version's state
        elif step == 2:
            Settings._bias = 7
        elif step == 3:
            Settings.table.append(10)    # in place
        elif step == 4:
            Settings.apply = apply_sq    # a method replaced
        elif step == 5:
            Settings.apply = orig        # the first one again
            SCALE = 3
        elif step == 6:
            Base.unit = "km"
        elif step == 7:
            Settings.extra = "added"
        elif step == 8:
            del Settings.extra
        elif step == 9:
            s = Settings(-1.0)           # another instance, same class
        elif step == 10:
            SCALE = 2
            Settings.table = [0]
    sums = {}
    for k, r in enumerate(out):
        key = (k // 60, r[1], r[2])
        sums[key] = round(sums.get(key, 0.0) + r[0], 6)
    for key in sorted(sums, key=str):
        print(key, sums[key])


if __name__ == "__main__":
    main()
