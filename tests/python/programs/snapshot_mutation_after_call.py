from pydron import schedule, functional

@functional
def total(xs):
    return sum(xs)

@functional
def first_key(d):
    return sorted(d)

@schedule
def main():
    data = [1, 2, 3]
    t1 = total(data)
    data.append(100)
    t2 = total(data)
    data[0] = 1000
    t3 = total(data)
    d = {"a": 1}
    k1 = first_key(d)
    d["b"] = 2
    return t1, t2, t3, k1, data

if __name__ == "__main__":
    print(main())
