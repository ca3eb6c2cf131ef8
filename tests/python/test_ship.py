"""Code shipping (issue 14 item 2): the program's own modules reach workers that
cannot import them, by content hash; installed packages are checked by version.

Real workers whose sys.path does not see the program: `python -m pydron.worker`
in network namespaces (started from another directory, no PYTHONPATH, no --path)
and Dask workers started in an empty directory.
"""

import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import pytest

import daskcluster
from nethosts import NetHosts

PKG_ROOT = str(pathlib.Path(__import__("pydron").__file__).resolve().parent.parent)

HELPERS = """
FACTOR = {factor}

def scale(x):
    return x * FACTOR
"""

PROG = """
import os
import sys

import helpers
import pydron
from mypkg import geom
from pydron import functional, schedule

if sys.argv[1] == "dask":
    pydron.configure(executor="dask", address=sys.argv[2])
else:
    pydron.configure(executor="remote", workers=2, address=sys.argv[2], secret_file=sys.argv[3])


@functional
def task(i):
    from mypkg.deep import lazy  # a submodule the driver never imported
    p = geom.Point(i, 2)
    return helpers.scale(i), geom.norm2(p), lazy.tag(i), type(p).__module__, os.getcwd()


@schedule
def main(n):
    out = []
    for i in range(n):
        out.append(task(i))
    return out


res = main(6)
for r in res:
    print(r[:4])
print("worker cwds:", sorted(set(r[4] for r in res)))
print("total", sum(helpers.scale(i) for i in range(3)), geom.Point(1, 1))
"""


def write_app(root, factor=3):
    """A program in its own directory: a helper module next to the script and
    a local package with submodules (one imported only inside a task)."""
    app = root / "app"
    (app / "mypkg" / "deep").mkdir(parents=True, exist_ok=True)
    (app / "helpers.py").write_text(HELPERS.format(factor=factor))
    (app / "mypkg" / "__init__.py").write_text("")
    (app / "mypkg" / "geom.py").write_text(textwrap.dedent("""
        class Point:
            def __init__(self, x, y):
                self.x, self.y = x, y

            def __repr__(self):
                return f"Point({self.x}, {self.y})"

        def norm2(p):
            return p.x * p.x + p.y * p.y
    """))
    (app / "mypkg" / "deep" / "__init__.py").write_text("")
    (app / "mypkg" / "deep" / "lazy.py").write_text("def tag(i):\n    return f'lazy-{i}'\n")
    (app / "prog.py").write_text(PROG)
    return app


def expected(factor, n=6):
    lines = [str((factor * i, i * i + 4, f"lazy-{i}", "mypkg.geom")) for i in range(n)]
    return lines


def driver_env(extra_path=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYDRON_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, PKG_ROOT) if p)
    return env


def free_port(ip):
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def secret_file(tmp_path):
    f = tmp_path / "secret"
    f.write_text("ship-test-secret-0123456789abcdefghijklmnop\n")
    f.chmod(0o600)
    return f


def run_driver(app, argv, env=None, timeout=120):
    return subprocess.run([sys.executable, str(app / "prog.py"), *argv], cwd=str(app),
                          env=env or driver_env(), capture_output=True, text=True,
                          timeout=timeout)


def start_workers(hosts, url, secret, cwd, env_extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH",) and not k.startswith("PYDRON_")}
    env.update(env_extra or {})
    procs = []
    for h in hosts:
        procs.append(h.popen([sys.executable, "-m", "pydron.worker", "--connect", url,
                              "--secret-file", str(secret)], cwd=str(cwd), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return procs


def run_remote(net, argv, cwd, env, worker_cwd, worker_env=None, nworkers=None):
    """The driver in the test's namespace, then the workers on the hosts once
    it listens (a worker that finds no listener gives up). (rc, out, err)."""
    drv = subprocess.Popen([sys.executable, *argv], cwd=str(cwd), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = drv.stderr.readline()
    procs = []
    try:
        if "listening on" in first:
            hosts = net.hosts[:nworkers] if nworkers else net.hosts
            url, sec = argv[-2], argv[-1]
            procs = start_workers(hosts, url, sec, worker_cwd, worker_env)
        out, err = drv.communicate(timeout=120)
    finally:
        if drv.poll() is None:
            drv.kill()
            drv.wait()
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    return drv.returncode, out, first + err


def _net_or_skip():
    ok, why = NetHosts.available()
    if not ok:
        pytest.skip(why)


def test_remote_workers_import_the_program_modules(tmp_path):
    """Workers on two other hosts, started in a directory that holds nothing of
    the program and without --path, run tasks that use a module next to the
    script and a local package (also a submodule the driver never imported);
    objects of the package's classes come back as the driver's classes."""
    _net_or_skip()
    app = write_app(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sec = secret_file(tmp_path)
    with NetHosts(2) as net:
        url = f"tcp://{net.driver_ip}:{free_port(net.driver_ip)}"
        # the workers' own check: the program is not importable where they run
        r = net.hosts[0].run([sys.executable, "-c", "import helpers"], cwd=str(elsewhere))
        assert r.returncode != 0 and "No module named 'helpers'" in r.stderr
        rc, out, err = run_remote(net, [str(app / "prog.py"), "remote", url, str(sec)], app,
                                  driver_env(), elsewhere)
    assert rc == 0, err[-3000:]
    lines = out.splitlines()
    assert lines[:6] == expected(3), out
    assert lines[6] == f"worker cwds: [{str(elsewhere)!r}]", out
    assert lines[7] == "total 9 Point(1, 1)"


def make_dist(root, name, version):
    """An installed distribution `name` (module + dist-info) in root/site-packages."""
    sp = root / "site-packages"
    (sp / name).mkdir(parents=True)
    (sp / name / "__init__.py").write_text(f"VERSION = {version!r}\n\ndef value():\n"
                                           f"    return {version!r}\n")
    di = sp / f"{name}-{version}.dist-info"
    di.mkdir()
    (di / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (di / "RECORD").write_text("")
    return sp


MISMATCH = """
import sys

import fakedep_pd
import pydron
from pydron import functional, schedule

pydron.configure(executor="remote", workers=1, address=sys.argv[1], secret_file=sys.argv[2])


@functional
def use(i):
    return fakedep_pd.value(), i


@schedule
def main():
    return use(1)


try:
    print(main())
except pydron.VersionMismatch as e:
    print("VersionMismatch:", e)
"""


def test_installed_package_version_mismatch_is_reported(tmp_path):
    """The driver has fakedep_pd 1.0, the worker 2.0 (both installed, in their
    site-packages): the call raises pydron.VersionMismatch naming the package
    and both versions, instead of running with the other version."""
    _net_or_skip()
    drv_sp = make_dist(tmp_path / "drv", "fakedep_pd", "1.0")
    wrk_sp = make_dist(tmp_path / "wrk", "fakedep_pd", "2.0")
    app = tmp_path / "app"
    app.mkdir()
    (app / "prog.py").write_text(MISMATCH)
    sec = secret_file(tmp_path)
    with NetHosts(1) as net:
        url = f"tcp://{net.driver_ip}:{free_port(net.driver_ip)}"
        rc, out, err = run_remote(net, [str(app / "prog.py"), url, str(sec)], app,
                                  driver_env(str(drv_sp)), tmp_path, {"PYTHONPATH": str(wrk_sp)})
    assert rc == 0, err[-3000:]
    assert out.startswith("VersionMismatch: pydron: installed packages differ on worker"), out
    assert "fakedep_pd 1.0 on the driver but 2.0 on the worker" in out


@pytest.fixture(scope="module")
def dask_cluster():
    ok, why = daskcluster.available()
    if not ok:
        pytest.skip(why)
    with daskcluster.DaskCluster(workers=2) as c:
        yield c


def test_edited_module_between_sessions_on_dask(tmp_path, dask_cluster):
    """Dask workers outlive a program: the same program run again after its
    helper module was edited runs the new code (new hash, new module), and the
    Dask workers, started in an empty directory, never saw the files."""
    app = write_app(tmp_path, factor=3)
    r = run_driver(app, ["dask", dask_cluster.address])
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines()[:6] == expected(3)
    assert str(app) not in r.stdout  # the tasks did not run in the program's directory
    (app / "helpers.py").write_text(HELPERS.format(factor=5))
    (app / "mypkg" / "deep" / "lazy.py").write_text("def tag(i):\n    return f'lazier-{i}'\n")
    r = run_driver(app, ["dask", dask_cluster.address])
    assert r.returncode == 0, r.stderr[-3000:]
    got = r.stdout.splitlines()
    assert got[:6] == [line.replace("lazy-", "lazier-") for line in expected(5)], r.stdout
    assert got[7] == "total 15 Point(1, 1)"
    # and the first version again: hashes, not "newest wins"
    (app / "helpers.py").write_text(HELPERS.format(factor=3))
    (app / "mypkg" / "deep" / "lazy.py").write_text("def tag(i):\n    return f'lazy-{i}'\n")
    r = run_driver(app, ["dask", dask_cluster.address])
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines()[:6] == expected(3)


def test_bundle_is_made_once_per_content():
    """The driver side: one bundle (same hash, same bytes) while nothing
    changes; a new hash when a module's source changes."""
    from pydron import _ship

    sh = _ship.Shipper()
    a = sh.bundle()
    b = sh.bundle()
    assert a is not None and a[0] == b[0] and a[1] is b[1]
    # this test module is one of the program's modules: it is in the bundle
    import pickle
    import zlib

    mods = pickle.loads(zlib.decompress(a[1][39:]))["modules"]
    assert "test_ship" in mods and mods["test_ship"][2] == pathlib.Path(__file__).read_bytes()
    assert not any(n == "pydron" or n.startswith("pydron.") for n in mods)
    assert "pytest" not in mods and "os" not in mods


CACHED = """
import os
import sys
import time

import bigmod
import pydron
from pydron import _ship, functional, schedule

pydron.configure(executor="remote", workers=2, address=sys.argv[1], secret_file=sys.argv[2])


@functional
def task(i):
    time.sleep(0.01)
    return bigmod.CHECK + i, os.getpid()


@schedule
def main(n):
    return [task(i) for i in range(n)]


def check(res, n):
    assert [r[0] for r in res] == [bigmod.CHECK + i for i in range(n)], res


print("bundle", len(_ship.Shipper().bundle()[1]), flush=True)
res = main(80)
check(res, 80)
first = sorted(set(r[1] for r in res))
print("phase1", len(res), *first, flush=True)
sys.stdin.readline()  # the test killed a worker and started a replacement
seen = set(first)
new = set()
for _ in range(200):
    res = main(20)
    check(res, 20)
    new |= set(r[1] for r in res) - seen
    if new:
        break
print("phase2", *sorted(new), flush=True)
"""


def rx_bytes(host):
    """Bytes the host's network interfaces received (its /proc/net/dev)."""
    r = host.run(["cat", "/proc/net/dev"], check=True)
    total = 0
    for line in r.stdout.splitlines()[2:]:
        name, _, rest = line.partition(":")
        if name.strip() != "lo":
            total += int(rest.split()[0])
    return total


def test_remote_bundle_travels_once_per_worker(tmp_path):
    """A program whose own module is large (a ~1 MB bundle) runs 80 tasks on
    two remote workers, then one worker is killed and a replacement joins on
    a third host. Every task of every worker imports the module (the workers
    cannot), yet each host receives the bundle's bytes at most twice: the
    driver sends it once per worker (the first task to reach any worker may
    carry it once more), later tasks name it. Bytes counted on the hosts'
    own interfaces."""
    _net_or_skip()
    import base64
    import random

    app = tmp_path / "app"
    app.mkdir()
    rnd = random.Random(14)
    text = base64.b64encode(rnd.randbytes(1_200_000)).decode()
    (app / "bigmod.py").write_text(f"PAD = {text!r}\nCHECK = len(PAD)\n")
    (app / "prog.py").write_text(CACHED)
    sec = secret_file(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with NetHosts(3) as net:
        url = f"tcp://{net.driver_ip}:{free_port(net.driver_ip)}"
        rx0 = [rx_bytes(h) for h in net.hosts]
        drv = subprocess.Popen([sys.executable, str(app / "prog.py"), url, str(sec)],
                               cwd=str(app), env=driver_env(), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs = []
        try:
            assert "listening on" in drv.stderr.readline()
            procs = start_workers(net.hosts[:2], url, sec, elsewhere)
            bundle = int(drv.stdout.readline().split()[1])
            phase1 = drv.stdout.readline().split()
            assert phase1[:2] == ["phase1", "80"], phase1
            pids1 = set(int(x) for x in phase1[2:])
            assert len(pids1) == 2, phase1  # both workers ran tasks
            procs[0].kill()
            procs[0].wait()
            procs += start_workers(net.hosts[2:], url, sec, elsewhere)
            drv.stdin.write("go\n")
            drv.stdin.flush()
            out, err = drv.communicate(timeout=120)
            assert drv.returncode == 0, err[-3000:]
            phase2 = out.split()
            assert phase2[0] == "phase2" and len(phase2) == 2, out  # the replacement ran tasks
        finally:
            if drv.poll() is None:
                drv.kill()
                drv.wait()
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
        got = [rx_bytes(h) - r0 for h, r0 in zip(net.hosts, rx0)]
    assert bundle > 800_000
    # without the cache each of the first two hosts received it with each of
    # its tens of tasks (over 20 MB); now at most twice (+ 512 KB of the rest)
    for i, b in enumerate(got):
        assert b < 2 * bundle + 512 * 1024, (i, got, bundle)
    assert got[2] > bundle  # the replacement did get it
