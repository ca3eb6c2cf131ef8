# A print that waits for a pending result (deferred) comes before the output
# of later tasks, also when a consumer reads those tasks' values first:
# sorted/max/min with a key, sum over a generator expression, lst.sort(key=).
from pydron import functional, schedule


@functional
def frame(i):
    print("frame", i)
    return [i, i * 3 % 4]


@functional
def brightness(i):
    print("measuring", i)
    return (i * 7) % 5


@schedule
def main():
    frames = [frame(i) for i in range(3)]
    print("frames", frames)                       # waits for the frames
    print("sorted", sorted([5, 0, 10], key=brightness))
    frames = sorted(frames, key=lambda f: brightness(f[1]))
    print("by brightness", frames)                # waits for the keys' tasks
    ties = sorted([5, 0, 10], key=brightness)
    print("ties", ties)
    first = frame(7)
    print("first", first[1])
    print("max", max(range(4), key=lambda i: brightness(i + 1)))
    again = frame(8)
    print("again", again)
    print("sum", sum(brightness(i) for i in range(3)))
    last = frame(9)
    print("last", last[0] + 1)
    xs = [3, 1, 2]
    xs.sort(key=brightness)
    print("sorted in place", xs)


if __name__ == "__main__":
    main()
