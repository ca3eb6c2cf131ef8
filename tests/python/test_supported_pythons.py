"""Pythons older than 3.11 are refused with a clear message (pip refuses them
at install time through requires-python; test_packaging checks the wheel's
metadata says so)."""

import os
import pathlib
import subprocess
import sys

import pytest

import pydron
import pythons

PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)
ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_requires_python_matches_supported_list():
    import tomllib
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    low = min(pythons.SUPPORTED)
    assert meta["requires-python"] == f">={low[0]}.{low[1]}"
    for major, minor in pythons.SUPPORTED:
        assert f"Programming Language :: Python :: {major}.{minor}" in meta["classifiers"]
    assert sys.version_info[:2] >= low


@pytest.mark.parametrize("version", pythons.UNSUPPORTED, ids=lambda v: "%d.%d" % v)
def test_old_python_gets_a_clear_import_error(version):
    exe = pythons.find(version)
    if exe is None:
        pytest.skip("Python %d.%d is not installed here" % version)
    # The installed package made visible to the old interpreter, as a shared
    # site-packages or a copied install would make it.
    env = dict(os.environ, PYTHONPATH=PKG_ROOT)
    r = subprocess.run([exe, "-c", "import pydron"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: pydron needs Python 3.11 or newer; this is Python %d.%d."
                           % version), r.stderr


@pytest.mark.parametrize("version", pythons.UNSUPPORTED[-1:], ids=lambda v: "%d.%d" % v)
def test_pip_refuses_old_python_at_install_time(version, tmp_path):
    """`pip install` of the sdist on an unsupported Python stops before
    anything is installed, with pip's own 'requires a different Python'.
    pip learns requires-python from the package's metadata, which needs the
    build backend: fetched from the package index (skipped when there is
    none)."""
    exe = pythons.find(version)
    if exe is None:
        pytest.skip("Python %d.%d is not installed here" % version)
    import wheels

    sdist = wheels.build_sdist(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([exe, "-m", "venv", venv], check=True, timeout=120)
    r = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", sdist],
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    if r.returncode != 0 and "requires a different Python" not in out and (
            "No matching distribution" in out or "Could not find a version" in out
            or "connection" in out.lower()):
        pytest.skip("no package index for the build backend: " + out.strip().splitlines()[-1])
    assert r.returncode != 0, out
    assert "requires a different Python" in out and ">=3.11" in out, out
    listed = subprocess.run([venv / "bin" / "python", "-m", "pip", "list"],
                            capture_output=True, text=True, timeout=120).stdout
    assert "pydron" not in listed
