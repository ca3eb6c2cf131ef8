from pydron import schedule, functional

@functional
def boom():
    raise RuntimeError("unreachable task ran")

@functional
def ok():
    return 1

@schedule
def main():
    x = ok()
    if x:
        return "early"
    boom()

if __name__ == "__main__":
    print(main())
