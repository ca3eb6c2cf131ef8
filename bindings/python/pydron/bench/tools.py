"""Where the harness finds pydron-bench, and what it says about the machine."""

from __future__ import annotations

import os
import pathlib
import platform
import shutil
import sys


def bench_binary() -> str:
    """The pydron-bench executable: $PYDRON_BENCH_BIN, else the one installed
    with the package (pydron/bin), else one on PATH."""
    env = os.environ.get("PYDRON_BENCH_BIN")
    if env:
        if not os.access(env, os.X_OK):
            raise FileNotFoundError(f"PYDRON_BENCH_BIN={env} is not an executable file")
        return env
    here = pathlib.Path(__file__).resolve().parent.parent / "bin" / "pydron-bench"
    if os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("pydron-bench")
    if found:
        return found
    raise FileNotFoundError("pydron-bench was not found: it is installed with the package "
                            "(pip install .), or set PYDRON_BENCH_BIN to a build's "
                            "benchmarks/pydron-bench")


def machine() -> dict:
    """A few facts to print next to the figures."""
    info = {"cpus": os.cpu_count() or 1, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.machine()}"}
    try:
        info["load"] = "%.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        info["load"] = "?"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from .. import __version__
    info["pydron"] = __version__
    info["executable"] = sys.executable
    return info
