"""Part of the differential programs state_module_*: a module of the program
whose functions read module-level settings the script changes."""

from pydron import functional

SETTINGS = {"gain": 1, "offset": 0}
SCALE = 1


def calibrate(x):
    # a helper of the module: reads the settings as of the call too
    return x * SETTINGS["gain"] + SETTINGS["offset"]


@functional
def simulate(x):
    return calibrate(x) * SCALE


@functional
def gain_only(x):
    return x * SETTINGS["gain"]
