from pydron import schedule, functional

import time

# A module-level dict (and list) changed in place between calls; the task that
# reads it runs late (it waits for a slow input), after the driver changed it
# again: it must still see the state as of its call.
SETTINGS = {"gain": 2}
OFFSETS = [0]

@functional
def slow(x):
    time.sleep(0.3)
    return x

@functional
def apply(x):
    return x * SETTINGS["gain"] + sum(OFFSETS)

@schedule
def main(tag):
    a = apply(slow(1))
    SETTINGS["gain"] = 5
    OFFSETS.append(100)
    b = apply(slow(1))
    SETTINGS["gain"] = 7
    return tag, a, b

if __name__ == "__main__":
    print(main("first"))
    SETTINGS["gain"] = 11
    OFFSETS.clear()
    print(main("second"))
