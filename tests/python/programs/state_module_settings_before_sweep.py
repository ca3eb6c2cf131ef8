from pydron import schedule

from statelib import sweep

# Settings of an imported module of the program, changed by the script before
# (and between) sweeps: the module's functions and their helpers see them.

@schedule
def run(xs):
    return [sweep.simulate(x) for x in xs]

@schedule
def run_changing(xs):
    out = []
    for i, x in enumerate(xs):
        sweep.SETTINGS["offset"] = i
        out.append(sweep.simulate(x))
    return out

if __name__ == "__main__":
    print(run([1, 2, 3]))
    sweep.SETTINGS["gain"] = 10
    sweep.SCALE = 2
    print(run([1, 2, 3]))
    print(run_changing([1, 2, 3]))
    sweep.SETTINGS.update(gain=3, offset=1)
    print([run([4])[0], run_changing([5])[0]])
