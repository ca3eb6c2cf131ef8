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
