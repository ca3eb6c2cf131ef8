"""``python -m pydron info``: what this installation has and where things go."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

DESCRIPTION = """\
Show pydron's version (Python package and the linked libpydron), the Python
it runs on, the libraries loaded with it, the executors and whether local
workers start here, the workers a run would use, the settings taken from the
environment, and where diagnostics and logs go."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-probe", action="store_true",
                   help="do not start a local worker to check that workers start")
    p.add_argument("--json", action="store_true", help="print the same facts as JSON")


def _loaded_libraries() -> list[str]:
    """Shared objects this process has mapped after importing pydron._core:
    shows whether libnng & co. come from the wheel or from the system."""
    wanted = ("nng", "protobuf-c", "ffi", "mbed", "pydron")
    seen = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                path = parts[-1] if len(parts) >= 6 else ""
                name = os.path.basename(path)
                if path.startswith("/") and ".so" in name and any(w in name for w in wanted):
                    if path not in seen:
                        seen.append(path)
    except OSError:
        pass
    return seen


def _probe() -> None:
    """Run in a child process: one task on one local worker."""
    import pydron

    pydron.configure(executor="local", workers=1)

    @pydron.functional
    def square(x):
        return x * x

    @pydron.schedule
    def run():
        return square(7)

    got = run()
    print("ok" if got == 49 else f"wrong result {got!r}")


def _probe_local(timeout: float = 60.0) -> str:
    try:
        p = subprocess.run([sys.executable, "-c", "from pydron._cli.info import _probe; _probe()"],
                           capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "PYDRON_DISABLE": ""})
    except subprocess.TimeoutExpired:
        return f"no: no result within {timeout:.0f} s"
    out = p.stdout.strip()
    if p.returncode == 0 and out == "ok":
        return "yes (one task ran on one local worker process)"
    err = [line for line in p.stderr.splitlines() if line.strip()]
    return "no: " + (err[-1] if err else out or f"exit status {p.returncode}")


def facts(probe: bool = True) -> dict:
    import pydron
    from .. import _core, config

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        settings = config.resolved()
        settings.pop("secret", None)
        settings_error = None
    except ValueError as e:
        settings, settings_error = {}, str(e)
    workers = settings.get("workers") or cores
    worker_exe = os.path.join(os.path.dirname(_core.__file__), "bin", "pydron-worker")
    env = {k: ("<set>" if "SECRET" in k else v) for k, v in sorted(os.environ.items())
           if k.startswith("PYDRON_")}
    executors = {
        "inline": "yes",
        "threads": "yes",
        "local": _probe_local() if probe else "not checked (--no-probe)",
        "remote": ("configured (PYDRON_ADDRESS)" if os.environ.get("PYDRON_ADDRESS")
                   else "needs PYDRON_ADDRESS and PYDRON_SECRET (workers dial in)"),
    }
    return {
        "pydron": pydron.__version__,
        "libpydron": _core.version_string(),
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "package": os.path.dirname(pydron.__file__),
        "c worker": worker_exe if os.access(worker_exe, os.X_OK) else "not installed",
        "libraries": _loaded_libraries(),
        "executors": executors,
        "executor": settings.get("executor", "?") + ("" if settings.get("explicit_executor")
                                                     else " (default)"),
        "workers": f"{workers} ({'PYDRON_WORKERS/configure' if settings.get('workers') else f'one per core: {cores} cores'})",
        "policy": settings.get("policy") or "fifo (default)",
        "settings error": settings_error,
        "environment": env,
        "logs": {
            "driver": "Python logging, logger 'pydron', to stderr; level from PYDRON_LOG "
                      f"(now {os.environ.get('PYDRON_LOG', 'WARNING').upper()})",
            "workers": "local workers inherit the driver's stderr; records a task logs go "
                       "to the driver's handlers; remote workers log to their own stderr",
            "tasks' output": "print() inside a @functional task writes to its worker's "
                             "stdout (local workers share the driver's terminal)",
        },
    }


def main(args) -> int:
    f = facts(probe=not args.no_probe)
    if args.json:
        print(json.dumps(f, indent=2))
        return 0
    w = max(len(k) for k in f) + 1
    for k, v in f.items():
        if v is None:
            continue
        if isinstance(v, dict):
            print(f"{k + ':':<{w}}" + ("" if v else " (none)"))
            for k2, v2 in v.items():
                print(f"  {k2 + ':':<{w - 1}} {v2}")
        elif isinstance(v, list):
            print(f"{k + ':':<{w}} " + ("\n" + " " * (w + 1)).join(v or ["(none found)"]))
        else:
            print(f"{k + ':':<{w}} {v}")
    return 0
