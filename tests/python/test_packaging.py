"""Self-contained wheels (issue 15): the sdist builds a wheel, auditwheel
bundles libnng, protobuf-c, libffi, mbedTLS and libsodium into it with a manylinux tag,
and a fresh venv with only that wheel runs the transit demo (driver and local
workers) and the C worker in a mount namespace where the system's copies of
those libraries are empty files - so nothing outside the wheel is loaded.

The same runs on every other supported Python found here (pyenv), together
with a set of differential programs; those wheels build from the source tree
into build/wheel-<tag> so that reruns are incremental.
PYDRON_TEST_PYTHONS="3.12 3.13" limits that list, "none" skips it."""

from __future__ import annotations

import email.parser
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

import pydron
import pythons
import wheels

pytestmark = pytest.mark.timeout(900)

DEMO = wheels.ROOT / "examples" / "transits.py"
PROGRAMS = wheels.ROOT / "tests" / "python" / "programs"
# A quick cross-section of the differential suite: constructs whose
# translation depends on the Python version (except*, match, walrus, f-strings,
# comprehension scopes, generators) and the machinery (exceptions from tasks,
# numpy through shared memory, globals, nested @schedule, and settings that
# change in a loop of tiny calls: the fast path sees a change through dict
# version tags on 3.11 and a dict watcher from 3.12; deferred stores into
# numpy arrays count references the way each version's bytecode makes them;
# an __init__ that only stores its parameters is recognised by its bytecode).
DIFFERENTIAL = ["try_except_star", "match_statement", "walrus_in_comprehension_and_if",
                "fstrings", "comprehension_nested_futures", "generator_function",
                "exc_in_nested_schedule", "numpy_arrays", "state_global_rebound_between_calls",
                "for_break_continue_else", "kitchen_sink", "seed_calibration_loop",
                "batch_tiny_settings_every_kind_of_change", "genexp_consumed_whole",
                "genexp_loops", "numpy_store_loops", "records_of_results",
                # reference counts tell held iterators (tables._unseen): per version
                "consumers_stop_early_held_iterators"]


def _metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(z.read(name).decode()), z.namelist()


def _check_repaired(fixed):
    meta, names = _metadata(fixed)
    assert "manylinux" in fixed.name, fixed.name
    assert meta["Version"] == pydron.__version__
    assert meta["Requires-Python"] == ">=3.11"
    bundled = [n for n in names if n.startswith("pydron.libs/")]
    for lib in wheels.BUNDLED:
        assert any(os.path.basename(n).startswith(lib + "-") for n in bundled), (lib, bundled)


def _run_demo_hidden(py, where):
    why = wheels.can_hide()
    if why:
        pytest.skip(why)
    hidden = wheels.system_copies()
    assert any("libnng" in h for h in hidden), "no system libnng to hide: the check would be empty"
    site = pathlib.Path(subprocess.run([py, "-c", "import pydron, os; print(os.path.dirname("
                                        "os.path.dirname(pydron.__file__)))"],
                                       capture_output=True, text=True, check=True).stdout.strip())
    probe = ("import os, sys\n"
             "for lib in sys.argv[1:]:\n"
             "    assert os.path.getsize(lib) == 0, lib  # the system copy is out of reach\n"
             "import pydron._core\n"
             "maps = open('/proc/self/maps').read().split()\n"
             "libs = sorted({p for p in maps if p.startswith('/') and '.so' in p and "
             "any(n in p for n in ('nng', 'protobuf-c', 'ffi', 'mbed', 'sodium'))})\n"
             "print('\\n'.join(libs))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYDRON_") and k != "PYTHONPATH"}
    env.update(PYDRON_EXECUTOR="local", PYDRON_WORKERS="2")
    r = wheels.run_hidden(hidden, [py, "-c", probe, *hidden], env=env, cwd=where, timeout=120)
    assert r.returncode == 0, r.stderr
    loaded = r.stdout.split()
    assert len(loaded) >= len(wheels.BUNDLED), loaded
    assert all(p.startswith(str(site / "pydron.libs") + "/") for p in loaded), loaded
    # The demo: driver plus two local worker processes.
    r = wheels.run_hidden(hidden, [py, DEMO, "--stars", "4", "--periods", "200"], env=env,
                          cwd=where, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "2 detections in 4 stars" in r.stdout and "same results: True" in r.stdout, r.stdout
    # The C worker executable travels in the wheel too.
    worker = site / "pydron" / "bin" / "pydron-worker"
    r = wheels.run_hidden(hidden, [worker, "--help"], env=env, cwd=where, timeout=60)
    assert r.returncode == 0 and "--connect" in (r.stdout + r.stderr), r.stderr


def test_sdist_wheel_repaired_runs_with_system_libraries_hidden(tmp_path):
    sdist = wheels.build_sdist(tmp_path / "dist")
    wheel = wheels.build_wheel(sys.executable, sdist, tmp_path / "dist")
    assert wheel.name.startswith(f"pydron-{pydron.__version__}-")
    fixed = wheels.repair(wheel, tmp_path / "fixed")
    _check_repaired(fixed)
    py = wheels.fresh_venv(sys.executable, fixed, tmp_path / "venv")
    _run_demo_hidden(py, tmp_path)


def _other_pythons():
    want = os.environ.get("PYDRON_TEST_PYTHONS")
    versions = [v for v in pythons.SUPPORTED if v != sys.version_info[:2]]
    if want is not None:
        asked = {tuple(int(x) for x in w.split(".")) for w in want.split() if w != "none"}
        versions = [v for v in versions if v in asked]
    return versions


@pytest.mark.parametrize("version", _other_pythons(), ids=lambda v: "%d.%d" % v)
def test_other_python_wheel_and_differential_programs(version, tmp_path):
    exe = pythons.find(version)
    if exe is None:
        pytest.skip("Python %d.%d is not installed here" % version)
    tag = "cp%d%d" % version
    wheel = wheels.build_wheel(exe, wheels.ROOT, tmp_path / "dist",
                               build_dir=wheels.ROOT / "build" / f"wheel-{tag}")
    fixed = wheels.repair(wheel, tmp_path / "fixed")
    _check_repaired(fixed)
    try:
        py = wheels.fresh_venv(exe, fixed, tmp_path / "venv")
    except wheels.NoDependencies as e:
        pytest.skip(f"numpy/cloudpickle for Python %d.%d cannot be installed here: {e}" % version)
    _run_demo_hidden(py, tmp_path)
    # Differential programs on this Python: no-op decorators vs local workers.
    failures = []
    for stem in DIFFERENTIAL:
        prog = PROGRAMS / f"{stem}.py"
        assert prog.exists(), prog
        out = {}
        for mode in ("oracle", "local"):
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("PYDRON_") and k != "PYTHONPATH"}
            env.update(PYTHONHASHSEED="0", PYDRON_WORKERS="2")
            env.update(PYDRON_DISABLE="1") if mode == "oracle" else env.update(PYDRON_EXECUTOR="local")
            r = subprocess.run([py, prog], env=env, cwd=PROGRAMS, capture_output=True, text=True,
                               timeout=120)
            last = [l for l in r.stderr.splitlines() if l.strip()][-1:]
            out[mode] = (r.stdout, last, r.returncode)
        if not out["oracle"][0] and not out["oracle"][2]:
            failures.append(f"{stem}: oracle printed nothing")
        elif out["oracle"] != out["local"]:
            failures.append(f"{stem}: oracle {out['oracle']!r}\n  local {out['local']!r}")
    assert not failures, "\n".join(failures)
