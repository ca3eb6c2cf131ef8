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



# ---------------------------------------------------------------- a C host program
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JACOBI = os.path.join(ROOT, "build", "bindings", "c-example", "pydron-jacobi")
C_WORKER = os.path.join(ROOT, "build", "libpydron", "pydron-worker")
JACOBI_ARGS = ["--n", "64", "--blocks", "6"]


def jacobi_sum(out):
    m = re.search(r"^sum\(x\) = (\S+)$", out, re.M)
    return m and m.group(1)


needs_jacobi = pytest.mark.skipif(not (os.access(JACOBI, os.X_OK) and os.access(C_WORKER, os.X_OK)),
                                  reason="needs the C build tree (build/bindings/c-example)")


@needs_jacobi
def test_c_host_program_on_a_login_node_gets_an_allocation_and_gives_it_back(slurm):
    want = subprocess.run([JACOBI, "--executor", "threads", *JACOBI_ARGS], capture_output=True,
                          text=True, timeout=120)
    assert jacobi_sum(want.stdout), want.stderr
    env = dict(slurm.env, PYDRON_CLUSTER="slurm", PYDRON_WORKER=C_WORKER,
               PYDRON_LAUNCH_ARGS="--nodes=3 --time=5")
    r = slurm.run([JACOBI, "--executor", "remote", *JACOBI_ARGS], env=env, timeout=180)
    assert r.returncode == 0, r.stderr + slurm.log()
    assert jacobi_sum(r.stdout) == jacobi_sum(want.stdout)
    m = re.search(r"slurm: got allocation (\d+): 6 CPUs on node\[1-3\]", r.stderr)
    assert m, r.stderr
    # given back: the job ended (scancel) with the program
    assert slurm.jobs().get(m.group(1)) in ("CANCELLED", "COMPLETING", "COMPLETED"), slurm.jobs()


@needs_jacobi
def test_c_host_program_reports_a_bad_partition(slurm):
    env = dict(slurm.env, PYDRON_CLUSTER="slurm", PYDRON_WORKER=C_WORKER,
               PYDRON_LAUNCH_ARGS="--partition=nosuch")
    r = slurm.run([JACOBI, "--executor", "remote", *JACOBI_ARGS], env=env, timeout=120)
    assert r.returncode != 0
    assert "slurm: could not get an allocation (salloc --exclusive --partition=nosuch)" in r.stderr
    assert "invalid partition specified: nosuch" in r.stderr


# ---------------------------------------------------------------- a Python @schedule program
import json  # noqa: E402

from slurmlib import program_results, write_program  # noqa: E402


def test_python_program_on_a_login_node_gets_an_allocation_and_gives_it_back(slurm, tmp_path):
    prog = write_program(tmp_path)
    cfg = {"cluster": "slurm", "workers": 0, "launch_args": ["--nodes=3", "--time=5"]}
    r = slurm.run([sys.executable, prog, "12", json.dumps(cfg)], timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr + slurm.log()
    res = program_results(r.stdout)
    assert res["squares"] == "True", r.stdout
    assert res["workers"] == 6, r.stdout                     # one per CPU of the allocation
    assert set(res["hosts"]) <= {h.name for h in slurm.net.hosts} and len(res["hosts"]) >= 2
    m = re.search(r"slurm: got allocation (\d+)", r.stderr)
    assert m, r.stderr
    assert slurm.jobs().get(m.group(1)) in ("CANCELLED", "COMPLETING", "COMPLETED"), slurm.jobs()


def test_python_program_names_partition_time_and_nodes_of_its_allocation(slurm, tmp_path):
    """configure(partition=, time=, nodes=): the allocation asked for on a
    login node has them (Slurm's own record says so), and a partition that
    does not exist is named in the error."""
    prog = write_program(tmp_path)
    cfg = {"cluster": "slurm", "workers": 0, "partition": slurm.partition, "time": "0:07:00",
           "nodes": 2}
    r = slurm.run([sys.executable, prog, "8", json.dumps(cfg)], timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr + slurm.log()
    res = program_results(r.stdout)
    assert res["squares"] == "True" and res["workers"] == 4, r.stdout  # 2 nodes x 2 CPUs
    m = re.search(r"slurm: got allocation (\d+)", r.stderr)
    assert m, r.stderr
    job = slurm.run(["scontrol", "show", "job", m.group(1)], timeout=60).stdout
    assert "TimeLimit=00:07:00" in job and f"Partition={slurm.partition}" in job, job
    assert re.search(r"NumNodes=2\b", job), job

    cfg = {"cluster": "slurm", "workers": 0, "partition": "nosuch", "join_timeout": 30}
    r = slurm.run([sys.executable, prog, "2", json.dumps(cfg)], timeout=180)
    assert r.returncode != 0
    assert "--partition=nosuch" in r.stderr and "invalid partition" in r.stderr.lower(), r.stderr


def test_configure_checks_slurm_settings_at_the_call():
    import pydron
    from pydron import config

    try:
        pydron.configure(cluster="slurm", partition="short", time="1-02:00", nodes="2-4",
                         launch_args=["--exclusive"])
        assert config.resolved()["launch_args"] == [
            "--partition=short", "--time=1-02:00", "--nodes=2-4", "--exclusive"]
        pydron.configure(time=30, nodes=3)
        assert config.resolved()["launch_args"][1:3] == ["--time=30", "--nodes=3"]
        for bad in ({"time": "soon"}, {"time": 0}, {"nodes": 0}, {"nodes": "two"},
                    {"partition": "a b"}, {"partition": "x;rm"}):
            with pytest.raises(ValueError, match=next(iter(bad))):
                pydron.configure(**bad)
        assert config.resolved()["launch_args"][0] == "--partition=short"  # unchanged
        config.reset()
        with pytest.raises(ValueError, match="cluster='slurm' only"):
            pydron.configure(cluster="ssh", hosts=["a"], partition="short")
    finally:
        config.reset()


def test_python_program_in_a_batch_job_uses_every_cpu_of_it(slurm, tmp_path):
    prog = write_program(tmp_path)
    cfg = json.dumps({"cluster": "slurm", "workers": 0})
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {prog} 12 '{cfg}'\n")
    out = tmp_path / "job.out"
    r = slurm.run(["sbatch", "--wait", "-N3", "--exclusive", "-o", str(out), str(script)],
                  timeout=240)
    text = out.read_text() if out.exists() else ""
    assert r.returncode == 0, r.stdout + r.stderr + text + slurm.log()
    res = program_results(text)
    assert res["squares"] == "True" and res["workers"] == 6, text
    assert len(res["hosts"]) >= 2, text
