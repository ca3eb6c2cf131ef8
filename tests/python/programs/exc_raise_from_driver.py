from pydron import schedule, functional

@functional
def get(x):
    return x

@schedule
def main():
    v = get(5)
    if v > 3:
        raise ValueError(f"too big: {v}")
    return v

if __name__ == "__main__":
    main()
