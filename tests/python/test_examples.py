"""The examples run on local workers and agree with their sequential run."""

import pathlib
import subprocess
import sys

import pytest

import pydron

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)


@pytest.mark.parametrize("script,args,ok", [
    ("calibrate.py", ["--frames", "6", "--size", "256"], "same results: True"),
    ("transits.py", ["--stars", "4", "--periods", "200"], "same results: True"),
    ("forest.py", ["--trees", "4"], "same trees: True"),
])
def test_example(script, args, ok):
    from conftest import require_local
    require_local()
    env = {"PYDRON_EXECUTOR": "local", "PYDRON_WORKERS": "2", "PYTHONPATH": PKG_ROOT,
           "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], env=env,
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    assert ok in p.stdout, p.stdout
    if script == "calibrate.py":
        # the progress lines printed inside the loop come out in frame order
        frames = [int(l.split()[1].rstrip(":")) for l in p.stdout.splitlines()
                  if l.startswith("frame") and "bias" in l]
        assert frames == list(range(6))
