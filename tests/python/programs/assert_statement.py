from pydron import schedule, functional

@functional
def val(x):
    return x * 2

@schedule
def main():
    assert val(2) == 4, "fine"
    v = val(3)
    assert v == 7, f"expected 7, got {v}"
    return v

if __name__ == "__main__":
    main()
