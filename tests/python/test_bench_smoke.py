"""Smoke run of the Python benchmark script (figures are not checked: speed is
measured in benchmarks, not asserted in tests; this only keeps the script
working)."""

import pathlib
import subprocess
import sys

import pytest

import pydron

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)


@pytest.mark.parametrize("only,extra,expect", [
    ("overhead", ["--tasks", "300"], "BENCH py_schedule_tiny_per_task"),
    ("array", [], "BENCH py_numpy_32mb_arg_over_memcpy"),
    ("first", [], "BENCH py_first_schedule_call"),
    ("shapes", ["--tasks", "300"], "BENCH py_shape_placeholder_over_plain"),
])
def test_bench_python_runs(only, extra, expect):
    from conftest import require_local
    require_local()
    env = {"PYTHONPATH": PKG_ROOT, "PATH": "/usr/bin:/bin", "PYDRON_WORKERS": "2"}
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_python.py"),
                        "--only", only, *extra], env=env, capture_output=True, text=True,
                       timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    assert expect in p.stdout, p.stdout
