from pydron import schedule, functional

import time

import statelib.sweep
from statelib import sweep

# A task of the script reads settings of a module of the program through the
# module (`sweep.SETTINGS[...]`, `statelib.sweep.SCALE`) and calls one of its
# functions: all as of the call, also when the task runs late.

@functional
def slow(x):
    time.sleep(0.2)
    return x

@functional
def measure(x):
    return x * sweep.SETTINGS["gain"] + statelib.sweep.SCALE, sweep.calibrate(x)

@schedule
def main(tag):
    out = [measure(slow(1))]
    sweep.SETTINGS["gain"] = 4
    sweep.SETTINGS["offset"] = 1
    statelib.sweep.SCALE = 100
    out.append(measure(slow(1)))
    sweep.SETTINGS["gain"] = -1
    return tag, out

if __name__ == "__main__":
    print(main("first"))
    sweep.SETTINGS["gain"] = 2
    print(main("second"))
