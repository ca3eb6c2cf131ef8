from pydron import schedule, functional

@functional
def val(x):
    return x / 3

@schedule
def main():
    v = val(10)
    xs = [val(1), val(2)]
    return f"v={v:.3f} xs={xs!r} {v!s:>12} {'nested ' + f'{val(3)}'}"

if __name__ == "__main__":
    print(main())
