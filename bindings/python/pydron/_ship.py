"""Code shipping: the program's own modules travel to workers that cannot
import them (other hosts, Dask workers), by content hash.

Driver (``Shipper``): the program's modules are those imported from files
outside the installed locations (stdlib, site-packages): the script's
directory, local packages (every ``.py`` file of the package travels, so
that submodules imported only inside a task are there too), directories on
PYTHONPATH. ``__main__`` itself is not one: its functions and classes travel
by value (cloudpickle). Installed packages the program's functions use are
listed with their version instead. The bundle is a graph constant made once
per content hash in a session; every task of a remote or Dask session has
it as an input. Its bytes do not travel with every task: a remote worker
keeps a driver constant that many tasks read (Input.keep, proc_submit.c),
so each worker receives the bundle once per hash (a replacement worker too),
and Dask keeps it on its workers as one future.

Worker (``install``): the first task with a bundle installs it (a dict lookup
by hash for the next ones): each installed package's version is compared
with the driver's (a mismatch fails the task with ``VersionMismatch`` naming
the package and both versions), and a finder placed first on
``sys.meta_path`` serves the bundle's modules, so that unpickling a function
of ``helpers.py`` imports the driver's ``helpers.py``. A bundle with new
content for a module already imported (the program was edited between two
sessions; Dask workers outlive sessions) drops the old module, and the next
import runs the new code.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import os
import pickle
import sys
import sysconfig
import threading
import zlib

MAGIC = b"PDCODE1"
_HASH = slice(len(MAGIC), len(MAGIC) + 32)
MAX_PACKAGE_FILES = 2000
MAX_BYTES = 64 << 20


class VersionMismatch(ImportError):
    """An installed package differs between the driver and a worker."""


VersionMismatch.__module__ = "pydron"


# -- driver ------------------------------------------------------------------------

def _installed_roots():
    roots = set()
    paths = sysconfig.get_paths()
    for k in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(k):
            roots.add(paths[k])
    try:
        import site

        roots.update(site.getsitepackages())
        roots.add(site.getusersitepackages())
    except Exception:  # noqa: BLE001 - virtualenv's old site module
        pass
    for p in sys.path:
        if p and ("site-packages" in p or "dist-packages" in p):
            roots.add(p)
    out = []
    for r in roots:
        try:
            out.append(os.path.realpath(r).rstrip(os.sep) + os.sep)
        except (OSError, ValueError):
            pass
    return tuple(out)


def _top_dir(mod, name):
    """(top-level package name, its directory) when mod belongs to a package."""
    top = name.partition(".")[0]
    tm = sys.modules.get(top)
    f = getattr(tm, "__file__", None)
    if f and os.path.basename(f) == "__init__.py":
        return top, os.path.dirname(os.path.realpath(f))
    paths = list(getattr(tm, "__path__", []) or [])
    if paths:  # a namespace package: its (first) directory
        return top, os.path.realpath(paths[0])
    return None, None


class Shipper:
    """The driver's side for one session: builds the bundle when the set of
    the program's modules or the packages it uses changed."""

    def __init__(self):
        self._roots = _installed_roots()
        self._nmods = -1
        self._files: dict = {}  # path -> (mtime, size, bytes)
        self._mods: dict = {}   # module name -> (filename, is_package, source)
        self._reqs: dict = {}   # distribution -> version
        self._req_seen: set = set()
        self._blob = None
        self._hash = None
        self._dists = None  # importlib.metadata.packages_distributions(), lazily
        self._lock = threading.Lock()

    def _local(self, path):
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError):
            return False
        if real.startswith(self._roots):
            return False
        here = os.path.dirname(os.path.realpath(__file__)) + os.sep
        return not real.startswith(here)

    def _read(self, path):
        try:
            st = os.stat(path)
        except OSError:
            return None
        c = self._files.get(path)
        if c is not None and c[0] == st.st_mtime_ns and c[1] == st.st_size:
            return c[2]
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        self._files[path] = (st.st_mtime_ns, st.st_size, data)
        return data

    def _scan(self):
        mods = {}
        pkgs = {}
        for name, m in list(sys.modules.items()):
            if name == "__main__" or name.startswith(("pydron.", "__mp_main__")) or name == "pydron":
                continue
            f = getattr(m, "__file__", None)
            if not isinstance(f, str):
                continue
            if not f.endswith(".py") or not self._local(f):
                continue
            top, d = _top_dir(m, name)
            if top is not None and d is not None and self._local(d):
                pkgs[top] = d
            else:
                mods[name] = (f, False)
        out = {}
        total = 0
        for name, (f, is_pkg) in mods.items():
            src = self._read(f)
            if src is not None:
                out[name] = (f, is_pkg, src)
                total += len(src)
        for top, d in pkgs.items():
            n = 0
            for dirpath, dirnames, filenames in os.walk(d):
                dirnames[:] = sorted(x for x in dirnames
                                     if not x.startswith(".") and x != "__pycache__"
                                     and x.isidentifier())
                rel = os.path.relpath(dirpath, d)
                parts = [top] + ([] if rel == "." else rel.split(os.sep))
                pkgname = ".".join(parts)
                if pkgname not in out:  # a namespace directory: an empty package
                    out[pkgname] = (dirpath, True, None)
                for fn in sorted(filenames):
                    if not fn.endswith(".py"):
                        continue
                    stem = fn[:-3]
                    if not stem.isidentifier():
                        continue
                    path = os.path.join(dirpath, fn)
                    src = self._read(path)
                    if src is None:
                        continue
                    n += 1
                    total += len(src)
                    if n > MAX_PACKAGE_FILES or total > MAX_BYTES:
                        raise ValueError(f"pydron: the program's package {top!r} ({d}) is too "
                                         f"large to ship to workers (over {MAX_PACKAGE_FILES} "
                                         f"files or {MAX_BYTES >> 20} MB of source); install it "
                                         f"on the workers instead")
                    if stem == "__init__":
                        out[pkgname] = (path, True, src)
                    else:
                        out[pkgname + "." + stem] = (path, False, src)
        return out

    def note_function(self, data):
        """Packages the function (its pickle) uses: checked on the workers."""
        names = _module_names(data)
        new = names - self._req_seen
        if not new:
            return
        self._req_seen |= new
        for top in new:
            v = self._version(top)
            if v is not None:
                self._reqs[v[0]] = v[1]

    def _version(self, top):
        m = sys.modules.get(top)
        f = getattr(m, "__file__", None)
        if not isinstance(f, str) or self._local(f):
            return None  # stdlib modules without a file, or the program's own
        if not any(p in f for p in ("site-packages", "dist-packages")):
            return None  # the standard library
        from importlib import metadata

        names = [top]
        try:
            if self._dists is None:
                self._dists = metadata.packages_distributions()
            names = list(self._dists.get(top, ())) or names
        except Exception:  # noqa: BLE001
            pass
        for n in names:
            try:
                return n, metadata.version(n)
            except metadata.PackageNotFoundError:
                continue
        return None

    def bundle(self):
        """(hash, blob) of the current bundle, None when there is nothing to
        ship. Cheap when nothing changed since the last call."""
        with self._lock:
            n = len(sys.modules)
            if n != self._nmods or self._blob is None or self._reqs_changed:
                self._nmods = n
                mods = self._scan()
                reqs = dict(self._reqs)
                if not mods and not reqs:
                    self._blob = self._hash = None
                    self._reqs_changed = False
                    return None
                h = hashlib.sha256()
                for name in sorted(mods):
                    f, is_pkg, src = mods[name]
                    h.update(name.encode() + b"\0" + (b"P" if is_pkg else b"M") + b"\0")
                    h.update(hashlib.sha256(src or b"").digest())
                for k in sorted(reqs):
                    h.update(f"{k}=={reqs[k]}\0".encode())
                digest = h.digest()
                if digest != self._hash:
                    body = pickle.dumps({"modules": mods, "requires": reqs}, 5)
                    self._blob = MAGIC + digest + zlib.compress(body, 6)
                    self._hash = digest
                self._reqs_changed = False
            return (self._hash, self._blob) if self._blob is not None else None

    _reqs_changed = False

    def note_and_check(self, data):
        before = len(self._reqs)
        self.note_function(data)
        if len(self._reqs) != before:
            self._reqs_changed = True


def _module_names(data):
    """Top-level names of modules that a pickle refers to (by global or by
    cloudpickle's subimport)."""
    import pickletools

    out = set()
    try:
        for op, arg, _ in pickletools.genops(data):
            if type(arg) is str and arg and len(arg) < 200:
                top = arg.partition(" ")[0].partition(".")[0]
                if top in sys.modules and top.isidentifier():
                    out.add(top)
    except Exception:  # noqa: BLE001 - best effort
        pass
    return out


# -- worker ------------------------------------------------------------------------

class _Loader(importlib.abc.Loader):
    def __init__(self, filename, source):
        self.filename, self.source = filename, source

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if self.source is None:
            return  # an empty (namespace-like) package
        code = compile(self.source, self.filename, "exec", dont_inherit=True)
        exec(code, module.__dict__)

    def get_source(self, name):
        return None if self.source is None else self.source.decode("utf-8", "replace")


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.mods: dict = {}  # name -> (filename, is_package, source)

    def find_spec(self, name, path=None, target=None):
        e = self.mods.get(name)
        if e is None:
            return None
        filename, is_pkg, source = e
        spec = importlib.machinery.ModuleSpec(name, _Loader(filename, source),
                                              origin=filename if source is not None else None,
                                              is_package=is_pkg)
        if source is not None:
            spec.has_location = True
        if is_pkg:
            spec.submodule_search_locations = []
        return spec


_finder = None
_bundles: dict = {}  # hash -> its modules (decoded), on this worker
_active = None  # hash of the bundle the finder serves now
_install_lock = threading.Lock()


def install(blob):
    """Make a bundle's modules importable here: checked and decoded once per
    hash; a task of another bundle (another program, or the same one edited)
    switches the finder to that bundle's modules."""
    h = bytes(blob[_HASH])
    if h == _active:
        return
    with _install_lock:
        if h == _active:
            return
        mods = _bundles.get(h)
        if mods is None:
            if bytes(blob[:len(MAGIC)]) != MAGIC:
                raise ImportError("pydron: the program's code bundle is not readable by "
                                  "this worker (a different pydron version?)")
            d = pickle.loads(zlib.decompress(blob[_HASH.stop:]))
            check_versions(d.get("requires", {}))
            mods = d["modules"]
            if len(_bundles) >= 64:
                _bundles.clear()
            _bundles[h] = mods
        _switch(h, mods)


def _switch(h, mods):
    global _finder, _active
    if _finder is None:
        _finder = _Finder()
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    old = _finder.mods
    stale = [n for n, e in mods.items() if n in old and old[n][2] != e[2]]
    # what this worker imported from its own sys.path differs from the driver's
    stale += [n for n, e in mods.items() if n not in old and n in sys.modules
              and _source_of(sys.modules[n]) != e[2]]
    _finder.mods = {**old, **mods}
    # a changed module of a package: the whole package loads anew (its
    # parents hold the old submodules as attributes: `from p import sub`)
    for top in {n.partition(".")[0] for n in stale}:
        for m in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
            sys.modules.pop(m, None)
    importlib.invalidate_caches()
    _active = h


def _source_of(mod):
    try:
        f = mod.__file__
        with open(f, "rb") as fh:
            return fh.read()
    except Exception:  # noqa: BLE001
        return None


def check_versions(requires):
    from importlib import metadata

    bad = []
    for dist, want in sorted(requires.items()):
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            have = None
        if have != want:
            bad.append((dist, want, have))
    if bad:
        import socket

        where = f"{socket.gethostname()} (pid {os.getpid()}, {sys.executable})"
        parts = [f"{d} {w} on the driver but {h if h else 'not installed'} on the worker"
                 for d, w, h in bad]
        raise VersionMismatch(f"pydron: installed packages differ on worker {where}: "
                              + "; ".join(parts) + ". Install the driver's versions on the "
                              "workers")
