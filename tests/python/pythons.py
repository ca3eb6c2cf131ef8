"""Other Python interpreters on this machine (pyenv's, or pythonX.Y on PATH),
for the tests that check supported and unsupported versions."""

import glob
import os
import re
import shutil
import subprocess

SUPPORTED = [(3, 11), (3, 12), (3, 13)]   # pyproject.toml: requires-python >= 3.11
UNSUPPORTED = [(3, 9), (3, 10)]


def find(version):
    """Path of a working python for (major, minor), or None."""
    major, minor = version
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv"), "/root/.pyenv"]
    cands = []
    for r in dict.fromkeys(filter(None, roots)):
        cands += sorted(glob.glob(f"{r}/versions/{major}.{minor}.*/bin/python{major}.{minor}"),
                        reverse=True)
    on_path = shutil.which(f"python{major}.{minor}")
    if on_path:
        cands.append(on_path)
    for c in cands:
        # a pyenv shim or a broken build is not an interpreter: ask it
        try:
            out = subprocess.run([c, "-c", "import sys; print(sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if re.fullmatch(rf"\({major}, {minor}\)\s*", out):
            return c
    return None
