from pydron import schedule, functional

class Holder:
    pass

@functional
def sq(x):
    return x * x

def show(h):
    return f"{h.value} {h.values}"

@schedule
def main():
    h = Holder()
    h.value = sq(4)
    h.values = [sq(1), sq(2)]
    return show(h)

if __name__ == "__main__":
    print(main())
