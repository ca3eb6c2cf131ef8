from pydron import schedule, functional

@functional
def check(i):
    if i == 4:
        raise ArithmeticError(f"bad {i}")
    return i

@schedule
def main():
    out = []
    for i in range(8):
        out.append(check(i))
        if i % 3 == 0:
            print("checkpoint", i, out)
    return out

if __name__ == "__main__":
    main()
