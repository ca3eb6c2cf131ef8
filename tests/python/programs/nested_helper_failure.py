from pydron import schedule, functional

@functional
def check(x):
    if x == 3:
        raise ValueError(f"bad value {x}")
    return x

@schedule
def main():
    def helper(x):
        v = check(x)
        return v * 2
    out = []
    for i in range(6):
        out.append(helper(i))
        if i == 4:
            print("reached 4", out)
    return out

if __name__ == "__main__":
    main()
