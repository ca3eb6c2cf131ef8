from pydron import schedule, functional

@functional
def inc(x):
    return x + 3

@schedule
def main(limit):
    x = 0
    while x < limit:
        x = inc(x)
        if x == 9:
            break
    else:
        return ("else", x)
    return ("broke", x)

if __name__ == "__main__":
    print(main(20), main(8))
