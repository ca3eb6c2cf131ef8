"""The slurm launcher on a real Slurm cluster (slurm-wlm + munge) that the
tests start in network namespaces (slurmlib.py): first the cluster itself,
then pydron programs run with cluster="slurm"."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from nethosts import NetHosts
from slurmlib import SlurmCluster

ok, why = SlurmCluster.available()
pytestmark = pytest.mark.skipif(not ok, reason=why)


@pytest.fixture(scope="module")
def slurm():
    with NetHosts(3) as net, SlurmCluster(net, cpus=2) as cluster:
        yield cluster


# ---------------------------------------------------------------- the test cluster itself
def test_test_cluster_srun_runs_one_task_on_each_node_in_its_namespace(slurm):
    r = slurm.run(["srun", "-N3", "--ntasks-per-node=1", "sh", "-c",
                   'echo "$SLURMD_NODENAME $(ip netns identify)"'], timeout=60)
    assert r.returncode == 0, r.stderr + slurm.log()
    seen = sorted(tuple(line.split()) for line in r.stdout.splitlines() if line.strip())
    want = sorted((n, h.name) for n, h in zip(slurm.nodes, slurm.net.hosts))
    assert seen == want


def test_test_cluster_sbatch_runs_a_script_that_steps_onto_every_cpu(slurm, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        echo "batch $SLURMD_NODENAME $(ip netns identify) job=$SLURM_JOB_ID cpus=$SLURM_JOB_CPUS_PER_NODE"
        srun -n 6 sh -c 'echo "task $SLURM_PROCID $SLURMD_NODENAME"'
        """))
    out = tmp_path / "job.out"
    r = slurm.run(["sbatch", "--wait", "-N3", "--exclusive", "-o", str(out), str(script)],
                  timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr + slurm.log()
    job = re.search(r"Submitted batch job (\d+)", r.stdout).group(1)
    text = out.read_text()
    # the batch script runs on the first node, in its namespace
    assert f"batch node1 {slurm.net.hosts[0].name} job={job} cpus=2(x3)" in text
    tasks = re.findall(r"^task (\d+) (node\d)$", text, re.M)
    # --exclusive: every CPU of the three nodes, cpus=2 each
    assert sorted(int(t) for t, _ in tasks) == list(range(6))
    assert sorted(n for _, n in tasks) == sorted(slurm.nodes * 2)


def test_test_cluster_refuses_an_unknown_partition(slurm):
    r = slurm.run(["salloc", "--no-shell", "-p", "nosuchpartition", "-N1"], timeout=60)
    assert r.returncode != 0
    assert "invalid partition" in r.stderr.lower(), r.stderr
