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
