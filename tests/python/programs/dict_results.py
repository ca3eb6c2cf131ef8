# Tasks that return small dicts ({"period": p, "power": w}), read the way
# scientists read them: items collected in a loop, stored into numpy arrays,
# formatted, passed on to other tasks, `get` and `in`, a missing key (the
# KeyError where plain Python raises it, with the output before it), the
# driver changing a result in place, dicts holding lists and arrays, and
# dicts that are not of the plain kind (a tuple key, an object value).
import numpy as np

from pydron import functional, schedule


@functional
def analyze(i):
    return {"period": i * 1.5, "power": -i, "name": f"star{i}", "lags": [i, i + 1]}


@functional
def with_array(i):
    return {"flux": np.arange(3.0) + i, 7: "seven"}


@functional
def odd_keys(i):
    return {(i, "k"): i}


class Note:
    def __init__(self, i):
        self.i = i

    def __repr__(self):
        return f"Note({self.i})"


@functional
def with_object(i):
    return {"note": Note(i)}


@functional
def refine(p):
    return p * 2


@schedule
def collect(n):
    periods = []
    powers = np.zeros(n)
    names = []
    for i in range(n):
        res = analyze(i)
        periods.append(res["period"])
        powers[i] = res["power"]
        names.append(res.get("name", "?") + res.get("missing", "!"))
        print(f"{i}: period {res['period']:.2f} lag {res['lags'][1]}")
    return periods, powers.tolist(), names


@schedule
def passed_on(n):
    out = []
    for i in range(n):
        res = analyze(i)
        out.append(refine(res["period"]))
    return out


@schedule
def membership_and_views(n):
    out = []
    for i in range(n):
        res = analyze(i)
        out.append(("power" in res, len(res), sorted(res.keys()), res["lags"]))
    return out


@schedule
def missing_key(n, bad):
    for i in range(n):
        res = analyze(i)
        key = "period" if i != bad else "periodd"
        print("value", res[key])
    return "done"


@schedule
def changed_in_place(n):
    out = []
    for i in range(n):
        res = analyze(i)
        before = res["lags"]
        res["lags"].append(99)
        res["period"] = -1.0
        out.append((before, res["period"], res["lags"]))
    return out


@schedule
def other_kinds(n):
    out = []
    for i in range(n):
        a = with_array(i)
        out.append((a["flux"].sum(), a[7]))
        out.append(odd_keys(i)[(i, "k")])
        out.append(repr(with_object(i)["note"]))
    return out


@schedule
def main():
    print(collect(4))
    print(passed_on(3))
    print(membership_and_views(2))
    try:
        print(missing_key(4, 2))
    except KeyError as e:
        print("caught", e)
    print(changed_in_place(2))
    print(other_kinds(2))
    print(missing_key(3, 1))


if __name__ == "__main__":
    main()
