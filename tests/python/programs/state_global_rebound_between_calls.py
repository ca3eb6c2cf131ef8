from pydron import schedule, functional

# A module-level setting rebound between calls (inside one @schedule call and
# between two of them): each task sees the value as of its call.
SCALE = 2
NAME = "a"

@functional
def scaled(x):
    return x * SCALE, NAME

@schedule
def main():
    global SCALE, NAME
    out = [scaled(1)]
    SCALE = 3
    out.append(scaled(1))
    NAME = "b"
    out.append(scaled(2))
    return out

if __name__ == "__main__":
    print(main())
    SCALE = 10
    NAME = "c"
    print(main())
