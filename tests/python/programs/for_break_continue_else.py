from pydron import schedule, functional

@functional
def val(i):
    return i * 7 % 11

@schedule
def main():
    seen = []
    for i in range(20):
        v = val(i)
        if v == 3:
            continue
        if v == 10:
            seen.append(("break at", i))
            break
        seen.append(v)
    else:
        seen.append("no break")
    for i in range(3):
        seen.append(val(i))
    else:
        seen.append("else ran")
    return seen

if __name__ == "__main__":
    print(main())
