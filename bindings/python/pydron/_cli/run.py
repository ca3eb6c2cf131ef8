"""``python -m pydron run script.py``: run a script with chosen pydron settings."""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Run a Python script as `python script.py ARGS` would, with pydron's settings
taken from these options: its @schedule functions run their @functional calls
in parallel on the chosen executor. The script sees its own arguments in
sys.argv, its directory first on sys.path, and the exit status is its own.

Each option sets the environment variable in brackets for the script (and
overrides it); pydron.configure() inside the script still wins over both.
The long options may also follow the script (`run script.py --trace t.json`);
the script gets an option of the same name only after `--`
(`run script.py -- --trace mine.txt`)."""

EPILOG = """\
executors:
  local    one worker process per core on this machine (default)
  threads  worker threads in this process (no pickling; GIL-bound Python code)
  inline   every task in the driver, one after another (debugging)
  remote   workers started elsewhere dial in (needs PYDRON_ADDRESS, PYDRON_SECRET)

examples:
  python -m pydron run examples/transits.py
  python -m pydron run --workers 8 --progress pipeline.py --input data/
  python -m pydron run --trace trace.json -m mypackage.main"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..config import EXECUTORS, POLICIES

    p.add_argument("--executor", "-e", choices=EXECUTORS, metavar="NAME",
                   help="where tasks run: " + ", ".join(EXECUTORS) + " [PYDRON_EXECUTOR]")
    p.add_argument("--workers", "-w", type=int, metavar="N",
                   help="number of workers, 0 = one per core [PYDRON_WORKERS]")
    p.add_argument("--policy", choices=POLICIES, metavar="NAME",
                   help="scheduling policy: " + ", ".join(POLICIES) + " [PYDRON_POLICY]")
    p.add_argument("--trace", metavar="FILE",
                   help="write a trace of every task to FILE (Chrome trace JSON) [PYDRON_TRACE]")
    p.add_argument("--progress", action="store_true",
                   help="show a progress line on stderr while tasks run [PYDRON_PROGRESS=1]")
    p.add_argument("-m", dest="module", metavar="MODULE",
                   help="run a module as `python -m MODULE` does, instead of a script")
    p.add_argument("script", nargs="?", help="the script to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")


def environment(args, base=None) -> dict:
    """The environment the script runs with: `base` plus the options' variables."""
    env = dict(os.environ if base is None else base)
    if args.executor:
        env["PYDRON_EXECUTOR"] = args.executor
    if args.workers is not None:
        env["PYDRON_WORKERS"] = str(args.workers)
    if args.policy:
        env["PYDRON_POLICY"] = args.policy
    if args.trace:
        env["PYDRON_TRACE"] = os.path.abspath(args.trace)
    if args.progress:
        env["PYDRON_PROGRESS"] = "1"
    env.pop("PYDRON_DISABLE", None)  # `pydron run` means: run it with pydron
    return env


_LATE = {"--executor": "executor", "--workers": "workers", "--policy": "policy",
         "--trace": "trace", "--progress": "progress"}


def take_late_options(args) -> str | None:
    """pydron's long options written after the script: taken out of the
    script's arguments up to a `--` (which is dropped; what follows it is the
    script's). Returns an error message, or None."""
    from ..config import EXECUTORS, POLICIES

    rest, out = list(args.args), []
    while rest:
        a = rest.pop(0)
        if a == "--":
            out += rest
            break
        name, eq, val = a.partition("=")
        dest = _LATE.get(name)
        if dest is None:
            out.append(a)
            continue
        if dest == "progress":
            if eq:
                return "--progress takes no value"
            args.progress = True
            continue
        if not eq:
            if not rest:
                return f"{name} needs a value"
            val = rest.pop(0)
        if dest == "workers":
            try:
                val = int(val)
            except ValueError:
                return f"--workers needs a number, not {val!r}"
        if dest == "executor" and val not in EXECUTORS:
            return f"--executor must be one of {', '.join(EXECUTORS)}, not {val!r}"
        if dest == "policy" and val not in POLICIES:
            return f"--policy must be one of {', '.join(POLICIES)}, not {val!r}"
        setattr(args, dest, val)
    args.args = out
    return None


def main(args) -> int:
    err = take_late_options(args)
    if err:
        print(f"python -m pydron run: {err}", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 0:
        print("python -m pydron run: --workers must be >= 0 (0 = one per core)", file=sys.stderr)
        return 2
    if args.module:
        if args.script is not None:
            args.args.insert(0, args.script)
        cmd = [sys.executable, "-m", args.module, *args.args]
    else:
        if args.script is None:
            print("python -m pydron run: give a script (or -m MODULE) to run", file=sys.stderr)
            return 2
        if not os.path.isfile(args.script):
            print(f"python -m pydron run: no such script: {args.script}", file=sys.stderr)
            return 2
        cmd = [sys.executable, args.script, *args.args]
    # Replace this process: the script runs exactly as `python script.py`
    # would (its __main__, signals, exit status), only with the settings.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, cmd, environment(args))
    return 0  # not reached
