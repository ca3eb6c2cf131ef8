"""The ``python -m pydron`` command line.

Each subcommand is a module of this package with ``add_arguments(parser)``
and ``main(args) -> int`` (or ``main_argv(argv) -> int`` when it parses its
own arguments), listed in COMMANDS with its one-line summary.
Adding a subcommand is one line here plus its own file; modules are
imported only when their subcommand runs (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (name, module, summary) - in the order `--help` lists them.
COMMANDS = [
    ("run", "pydron._cli.run", "run a Python script; its @schedule functions run in parallel"),
    ("worker", "pydron._cli.worker", "start a worker process that connects to a driver"),
    ("info", "pydron._cli.info", "show versions, executors, workers found and where logs go"),
    ("secret", "pydron._cli.secret", "print a new shared secret for remote workers"),
    ("replay", "pydron._cli.replay", "read a PYDRON_RECORD file back and replay its graph"),
]

DESCRIPTION = """\
pydron runs a sequential Python program in parallel: @functional calls inside
@schedule functions become tasks on worker processes, with the same results,
output and exceptions as the plain program."""

EPILOG = """\
examples:
  python -m pydron run examples/transits.py                  # one worker per core
  python -m pydron run --executor threads --workers 4 prog.py arg1
  python -m pydron run --trace trace.json --progress prog.py
  umask 077; python -m pydron secret > ~/.pydron/secret
  python -m pydron worker --connect tls+tcp://driver:7070 --secret-file ~/.pydron/secret
  python -m pydron info

`python -m pydron COMMAND --help` describes each command. Settings can also
come from the environment (PYDRON_EXECUTOR, PYDRON_WORKERS, PYDRON_POLICY,
PYDRON_ADDRESS, PYDRON_SECRET_FILE, PYDRON_LOG, PYDRON_DISABLE=1); see the
deployment page of the documentation."""


def _module(name: str):
    for cmd, mod, _summary in COMMANDS:
        if cmd == name:
            return importlib.import_module(mod)
    raise KeyError(name)


def parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="python -m pydron", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"pydron {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for cmd, _mod, summary in COMMANDS:
        # The subcommand's own arguments are added only when it is chosen
        # (see main), so a module that fails to import breaks only itself.
        sub.add_parser(cmd, help=summary, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = parser()
    # Find the subcommand by hand: everything after it belongs to it (a
    # script's own arguments for `run`), and only its module is imported.
    names = {c[0] for c in COMMANDS}
    idx = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if idx is None or argv[idx] not in names:
        if idx is None and not argv:
            top.print_help()
            return 2
        top.parse_args(argv[: (idx or 0) + 1])  # --help, --version, or a clear error
        top.print_help()
        return 2
    top.parse_args(argv[:idx])  # options before the command (--version, --help)
    name = argv[idx]
    mod = _module(name)
    if hasattr(mod, "main_argv"):
        return int(mod.main_argv(argv[idx + 1:]) or 0)
    summary = next(c[2] for c in COMMANDS if c[0] == name)
    p = argparse.ArgumentParser(prog=f"python -m pydron {name}",
                                description=getattr(mod, "DESCRIPTION", summary),
                                epilog=getattr(mod, "EPILOG", None),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mod.add_arguments(p)
    args = p.parse_args(argv[idx + 1:])
    return int(mod.main(args) or 0)
