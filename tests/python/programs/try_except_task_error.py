from pydron import schedule, functional

@functional
def div(a, b):
    return a / b

@schedule
def main():
    out = []
    for b in [2, 1, 0, 4]:
        try:
            out.append(div(8, b))
        except ZeroDivisionError as e:
            out.append(("caught", str(e)))
    return out

if __name__ == "__main__":
    print(main())
