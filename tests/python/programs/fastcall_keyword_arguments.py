# @functional calls with keyword arguments, in loops long enough for the
# driver's C fast path to batch them: scalars by keyword, defaults left
# out, keywords in another order than the parameters, **opts, a parameter
# named out, placeholders by keyword, a keyword the function does not
# take (TypeError) and one given twice. Each gives what sequential Python
# gives, the exceptions in program order included.
from pydron import functional, schedule


@functional
def model(x, scale=1.0, offset=0, label="m", flag=False):
    return (label, x * scale + offset, flag)


@functional
def into(x, out=None):
    return (x, out)


@functional
def leaf(i):
    return i


@schedule
def keywords(n):
    res = []
    opts = {"offset": 3, "label": "opt"}
    for i in range(n):
        res.append(model(i, scale=0.5))
        res.append(model(i, offset=i % 7, flag=i % 2 == 0))
        res.append(model(label=str(i % 5), x=i))
        res.append(model(i, **opts))
        res.append(into(i, out=i * 2))
        res.append(model(leaf(i), offset=leaf(i + 1)))
    return res


@schedule
def wrong_keyword(n):
    res = []
    for i in range(n):
        res.append(model(i, scale=2))
        if i == n - 5:
            res.append(model(i, size=3))
    return res


if __name__ == "__main__":
    res = keywords(400)
    print(len(res), res[:7], res[-3:])
    print(sum(r[1] for r in res if isinstance(r[1], (int, float))))
    try:
        wrong_keyword(300)
    except TypeError as e:
        print("TypeError", e)
