"""The mpi launcher with OpenMPI's mpirun across network-namespace hosts
(slurmlib.MpiHosts): first mpirun itself, then pydron programs run with
cluster="mpi"."""
import pytest

from nethosts import NetHosts
from slurmlib import MpiHosts

ok, why = MpiHosts.available()
pytestmark = pytest.mark.skipif(not ok, reason=why)


@pytest.fixture(scope="module")
def mpi():
    with NetHosts(3) as net, MpiHosts(net, slots=2) as hosts:
        yield hosts


# ---------------------------------------------------------------- the test hosts themselves
def test_test_hosts_mpirun_fills_every_slot_in_each_namespace(mpi):
    r = mpi.run(["mpirun", "--hostfile", mpi.hostfile, "-np", "6", "sh", "-c",
                 'echo "$OMPI_COMM_WORLD_RANK $(ip netns identify)"'], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    ranks = dict(line.split() for line in r.stdout.splitlines() if line.strip())
    assert sorted(int(k) for k in ranks) == list(range(6))
    # by slot: ranks 0,1 on the first host, 2,3 on the second, ...
    assert [ranks[str(i)] for i in range(6)] == [h.name for h in mpi.net.hosts for _ in (0, 1)]


def test_test_hosts_mpirun_reports_an_unknown_host(mpi, tmp_path):
    bad = tmp_path / "hosts"
    bad.write_text("10.255.255.1 slots=1\n")
    r = mpi.run(["mpirun", "--hostfile", str(bad), "-np", "1", "true"], timeout=120)
    assert r.returncode != 0
    assert "no test host 10.255.255.1" in r.stdout + r.stderr


# ---------------------------------------------------------------- a C host program
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JACOBI = os.path.join(ROOT, "build", "bindings", "c-example", "pydron-jacobi")
C_WORKER = os.path.join(ROOT, "build", "libpydron", "pydron-worker")
JACOBI_ARGS = ["--n", "64", "--blocks", "6"]
needs_jacobi = pytest.mark.skipif(not (os.access(JACOBI, os.X_OK) and os.access(C_WORKER, os.X_OK)),
                                  reason="needs the C build tree (build/bindings/c-example)")


def jacobi_sum(out):
    m = re.search(r"^sum\(x\) = (\S+)$", out, re.M)
    return m and m.group(1)


@needs_jacobi
@pytest.mark.parametrize("hosts", ["hostfile", "names"])
def test_c_host_program_runs_its_workers_through_mpirun(mpi, hosts):
    want = subprocess.run([JACOBI, "--executor", "threads", *JACOBI_ARGS], capture_output=True,
                          text=True, timeout=120)
    assert jacobi_sum(want.stdout), want.stderr
    # an mpirun host file ("ip slots=2"), or bare names (each asked for its CPUs)
    spec = mpi.hostfile if hosts == "hostfile" else ",".join(h.ip for h in mpi.net.hosts)
    env = dict(mpi.env, PYDRON_CLUSTER="mpi", PYDRON_WORKER=C_WORKER, PYDRON_HOSTS=spec)
    r = mpi.run([JACOBI, "--executor", "remote", *JACOBI_ARGS], env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    assert jacobi_sum(r.stdout) == jacobi_sum(want.stdout)


@needs_jacobi
def test_c_host_program_reports_a_host_mpirun_cannot_reach(mpi):
    env = dict(mpi.env, PYDRON_CLUSTER="mpi", PYDRON_WORKER=C_WORKER,
               PYDRON_HOSTS="10.255.255.1:2")
    r = mpi.run([JACOBI, "--executor", "remote", *JACOBI_ARGS], env=env, timeout=180)
    assert r.returncode != 0
    assert "0 of 2 workers joined" in r.stderr and "mpirun exited with status" in r.stderr
    assert "no test host 10.255.255.1" in r.stderr    # mpirun's own words, echoed


# ---------------------------------------------------------------- a Python @schedule program
import json  # noqa: E402
import sys  # noqa: E402

from slurmlib import program_results, write_program  # noqa: E402


def test_python_program_runs_its_tasks_on_every_host_through_mpirun(mpi, tmp_path):
    prog = write_program(tmp_path)
    cfg = {"cluster": "mpi", "hosts": mpi.hostfile, "workers": 0}
    r = mpi.run([sys.executable, prog, "12", json.dumps(cfg)], timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    res = program_results(r.stdout)
    assert res["squares"] == "True", r.stdout
    assert res["workers"] == 3 * mpi.slots, r.stdout          # every slot of the host file
    assert set(res["hosts"]) <= {h.name for h in mpi.net.hosts} and len(res["hosts"]) >= 2, r.stdout


def test_a_lost_mpi_worker_is_not_restarted_and_the_driver_says_why(mpi, tmp_path):
    # mpirun cannot add a process to its running job (and OpenMPI ends the
    # job when a rank is killed): the driver says that capacity is gone and
    # why, instead of waiting for workers that will not come
    from test_cluster_launch import RESTART, _program

    prog = _program(tmp_path, RESTART)
    cfg = {"cluster": "mpi", "hosts": mpi.hostfile, "workers": 0}
    r = mpi.run([sys.executable, str(prog), repr(cfg), "*", "0", "2"], timeout=240)
    gone = [l for l in r.stderr.splitlines() if "capacity is gone" in l]
    assert gone, r.stdout + r.stderr
    assert "mpirun cannot add a process to its running job" in gone[0], gone
    assert "starting it again" not in r.stderr, r.stderr
