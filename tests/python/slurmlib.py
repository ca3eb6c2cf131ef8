"""Real batch systems for the cluster tests, on NetHosts namespaces.

    ok, why = SlurmCluster.available()       # pytest.skip(why) when not ok
    with NetHosts(3) as net, SlurmCluster(net, cpus=2) as slurm:
        slurm.env                             # os.environ + SLURM_CONF: pass to subprocesses
        slurm.run(["srun", "-N3", "hostname"])  # a command on the "login node"
        slurm.nodes                           # ["node1", "node2", "node3"], host i = node i+1
        slurm.partition                       # "debug" (the default partition)
        slurm.log()                           # slurmctld's and every slurmd's log, for asserts

    ok, why = MpiHosts.available()
    with NetHosts(3) as net, MpiHosts(net, slots=2) as mpi:
        mpi.hostfile                          # "10.x.y.1 slots=2" per host
        mpi.env                               # OMPI_MCA_plm_rsh_agent etc.
        mpi.run(["mpirun", "-np", "6", "--hostfile", mpi.hostfile, "hostname"])

Slurm: one munged in the test's namespace serves every node (munge talks
over a unix socket, and the namespaces share the file system) with a key
made for the test. slurmctld runs in the test's namespace, which is also
the "login node": srun, salloc and sbatch called by the test (or by a
driver it starts) run there. Each host runs one slurmd with its own
NodeName and NodeAddr. No cgroups (proctrack/linuxproc, task/none) and the
cgroup/v1 plugin named outright, so that slurmd starts whatever the
machine mounts on /sys/fs/cgroup (`ip netns exec` remounts /sys, leaving
it empty, and autodetection then fails). Nodes declare `cpus` CPUs
whatever the machine has (SlurmdParameters=config_overrides). Every job
runs as root. The namespaces share one UTS namespace, so `hostname` is the
same everywhere: tell nodes apart with $SLURMD_NODENAME or `ip netns
identify`.

OpenMPI: mpirun starts its daemons on other hosts through an "rsh agent";
MpiHosts writes one that runs the daemon in the namespace that owns the
host's address (`ip netns exec`), instead of ssh, with a TMPDIR of its own
(OpenMPI names its session directories by host name, and the namespaces
share one; without this, daemons race on the same directory), and sets the
OMPI_MCA_* / OMPI_ALLOW_RUN_AS_ROOT* variables in `env` so that a plain
`mpirun --hostfile F` run by pydron works as root in these namespaces.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

SLURM_TOOLS = ("slurmctld", "slurmd", "munged", "srun", "salloc", "sbatch", "scancel",
               "squeue", "sinfo")


def _tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return f"({e})"


def _free_port():
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


class SlurmCluster:
    @staticmethod
    def available():
        from nethosts import NetHosts

        ok, why = NetHosts.available()
        if not ok:
            return False, why
        missing = [t for t in SLURM_TOOLS if shutil.which(t) is None]
        if missing:
            return False, (f"needs Slurm and munge ({', '.join(missing)} not found): "
                           "scripts/deps.sh cluster")
        return True, ""

    def __init__(self, net, cpus=2, partition="debug", start_timeout=60.0):
        self.net, self.cpus, self.partition = net, int(cpus), partition
        self.start_timeout = start_timeout
        self.nodes = [f"node{h.index + 1}" for h in net.hosts]
        self.dir = None
        self._procs = []          # (name, Popen), stopped in reverse order
        self.env = None

    # ------------------------------------------------------------ set-up
    def _write_conf(self):
        d = self.dir
        host = socket.gethostname().split(".")[0]  # slurmctld checks it is this host
        lines = [
            "ClusterName=pydrontest",
            f"SlurmctldHost={host}({self.net.driver_ip})",
            f"SlurmctldPort={_free_port()}",
            "SlurmdPort=6818",    # each node has its own namespace, so its own port space
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={d}/munge/socket",
            f"StateSaveLocation={d}/state",
            f"SlurmdSpoolDir={d}/spool/%n",
            f"SlurmctldPidFile={d}/slurmctld.pid",
            f"SlurmdPidFile={d}/spool/slurmd.%n.pid",
            f"SlurmctldLogFile={d}/slurmctld.log",
            f"SlurmdLogFile={d}/slurmd.%n.log",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerType=sched/backfill",
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "MailProg=/bin/true",
            "KillWait=2",
            "MinJobAge=60",
            # a dead node is noticed soon (tests that kill one)
            "SlurmdTimeout=20",
        ]
        for h, name in zip(self.net.hosts, self.nodes):
            lines.append(f"NodeName={name} NodeAddr={h.ip} CPUs={self.cpus} State=UNKNOWN")
        lines.append(f"PartitionName={self.partition} Nodes={','.join(self.nodes)} "
                     "Default=YES MaxTime=INFINITE State=UP")
        with open(f"{d}/slurm.conf", "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(f"{d}/cgroup.conf", "w") as f:
            f.write("CgroupPlugin=cgroup/v1\n")

    def _start(self, name, popen, argv, log):
        out = open(log, "ab")
        try:
            p = popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                      stderr=subprocess.STDOUT)
        finally:
            out.close()
        self._procs.append((name, p))
        return p

    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _setup(self):
        self.dir = d = tempfile.mkdtemp(prefix="pydron-slurm-")
        os.chmod(d, 0o755)  # munge clients (every job) reach the socket below it
        for sub, mode in (("munge", 0o755), ("munge/key", 0o700), ("state", 0o700),
                          ("spool", 0o755)):
            os.mkdir(f"{d}/{sub}", mode)
            os.chmod(f"{d}/{sub}", mode)
        for name in self.nodes:
            os.mkdir(f"{d}/spool/{name}")
        key = f"{d}/munge/key/munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(1024))
        os.close(fd)
        self.env = dict(os.environ, SLURM_CONF=f"{d}/slurm.conf")
        for k in [k for k in self.env if k.startswith(("SLURM_", "SALLOC_", "SBATCH_", "SRUN_"))]:
            if k != "SLURM_CONF":
                del self.env[k]      # the test's own allocation (if any) is not ours
        self._write_conf()
        self._start("munged", subprocess.Popen,
                    ["munged", "--foreground", "--force", f"--key-file={key}",
                     f"--socket={d}/munge/socket", f"--pid-file={d}/munge/munged.pid",
                     f"--log-file={d}/munge/munged.log", f"--seed-file={d}/munge/seed",
                     "--num-threads=4"], f"{d}/munged.out")
        self._wait(lambda: os.path.exists(f"{d}/munge/socket"), "munged to open its socket",
                   f"{d}/munged.out")
        self._start("slurmctld", subprocess.Popen, ["slurmctld", "-D", "-c", "-i"],
                    f"{d}/slurmctld.out")
        for h, name in zip(self.net.hosts, self.nodes):
            self._start(f"slurmd {name}", h.popen, ["slurmd", "-D", "-N", name],
                        f"{d}/slurmd.{name}.out")
        self._wait(self._all_idle, f"all {len(self.nodes)} nodes to be idle", None)

    def _all_idle(self):
        for name, p in self._procs:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with status {p.returncode} while the "
                                   f"test cluster started:\n{self.log()}")
        r = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return False
        state = dict(line.split() for line in r.stdout.splitlines() if line.strip())
        return all(state.get(n) == "idle" for n in self.nodes)

    def _wait(self, cond, what, log):
        deadline = time.monotonic() + self.start_timeout
        while not cond():
            if time.monotonic() > deadline:
                raise RuntimeError(f"test Slurm cluster: timed out waiting for {what}\n"
                                   + (_tail(log) if log else self.log()))
            time.sleep(0.2)

    # ------------------------------------------------------------ use
    def run(self, argv, timeout=60, check=False, **kw):
        """argv on the login node (the test's namespace), with SLURM_CONF set."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("env", self.env)
        return subprocess.run(argv, timeout=timeout, check=check, **kw)

    def jobs(self):
        """{job id: state} of every job slurmctld still knows."""
        r = self.run(["squeue", "-h", "-t", "all", "-o", "%i %T"], timeout=30)
        return dict(line.split() for line in r.stdout.splitlines() if line.strip())

    def log(self):
        parts = []
        for name in ["slurmctld.log"] + [f"slurmd.{n}.log" for n in self.nodes] + \
                ["slurmctld.out"] + [f"slurmd.{n}.out" for n in self.nodes]:
            path = f"{self.dir}/{name}"
            if os.path.exists(path):
                parts.append(f"--- {name}\n{_tail(path)}")
        return "\n".join(parts)

    # ------------------------------------------------------------ teardown
    def __exit__(self, *exc):
        if self.env is not None and self._procs:
            try:   # end every job first, so that no step outlives its slurmd
                subprocess.run(["scancel", "--full", "-u", "root"], env=self.env,
                               capture_output=True, timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for _, p in reversed(self._procs):
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 5
        for _, p in reversed(self._procs):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._procs.clear()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


class MpiHosts:
    @staticmethod
    def available():
        from nethosts import NetHosts

        ok, why = NetHosts.available()
        if not ok:
            return False, why
        if shutil.which("mpirun") is None:
            return False, "needs OpenMPI's mpirun: scripts/deps.sh cluster"
        r = subprocess.run(["mpirun", "--version"], capture_output=True, text=True)
        if "Open MPI" not in r.stdout + r.stderr:
            return False, "the mpirun here is not OpenMPI's"
        return True, ""

    def __init__(self, net, slots=2):
        self.net, self.slots = net, int(slots)
        self.dir = self.hostfile = self.env = None

    def __enter__(self):
        self.dir = d = tempfile.mkdtemp(prefix="pydron-mpi-")
        os.chmod(d, 0o755)
        ip = shutil.which("ip") or "/usr/sbin/ip"
        cases = "\n".join(f'    {h.ip}) ns={h.name} ;;' for h in self.net.hosts)
        agent = f"{d}/rsh-agent"
        with open(agent, "w") as f:
            f.write(f"""#!/bin/sh
# OpenMPI rsh agent for the test namespaces: "$1" is a host's address, the
# rest a command line, run there as ssh would run it (by a shell).
host=$1; shift
case "$host" in
{cases}
    *) echo "rsh-agent: no test host $host" >&2; exit 255 ;;
esac
# its own temporary directory, as a separate machine would have: OpenMPI's
# session directories are named by host name, the same in every namespace
mkdir -p "{d}/tmp-$ns"
exec {ip} netns exec "$ns" env TMPDIR="{d}/tmp-$ns" /bin/sh -c "$*"
""")
        os.chmod(agent, 0o755)
        self.agent = agent
        self.hostfile = f"{d}/hostfile"
        with open(self.hostfile, "w") as f:
            for h in self.net.hosts:
                f.write(f"{h.ip} slots={self.slots}\n")
        self.env = dict(os.environ, OMPI_MCA_plm_rsh_agent=agent,
                        OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        # mpirun's daemons call home on the test network only
                        OMPI_MCA_oob_tcp_if_include=f"{self.net.driver_ip.rsplit('.', 1)[0]}.0/24",
                        OMPI_MCA_btl_tcp_if_include=f"{self.net.driver_ip.rsplit('.', 1)[0]}.0/24")
        return self

    def run(self, argv, timeout=60, check=False, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("env", self.env)
        return subprocess.run(argv, timeout=timeout, check=check, **kw)

    def __exit__(self, *exc):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


# ---------------------------------------------------------------- a program to run on them
PROGRAM = '''
import json, subprocess, sys
import pydron
from pydron import schedule, functional


@functional
def square(i):
    import subprocess, time
    time.sleep(0.2)   # long enough that the work spreads over the workers
    where = subprocess.run(["ip", "netns", "identify"], capture_output=True, text=True).stdout
    return i * i, where.strip() or "-"


@schedule
def main(n):
    out = []
    for i in range(n):
        out.append(square(i))
    return out


if __name__ == "__main__":
    n = int(sys.argv[1])
    pydron.configure(**json.loads(sys.argv[2]))
    res = main(n)
    print("squares", [r[0] for r in res] == [i * i for i in range(n)])
    print("hosts", " ".join(sorted({r[1] for r in res})))
    print("workers", pydron.stats()["workers"])
'''


def write_program(directory):
    """PROGRAM as prog.py in directory: `python prog.py N '{configure kwargs}'`
    runs N tasks and prints "squares True", the namespaces its tasks ran
    in ("hosts a b"), and the number of workers."""
    path = os.path.join(str(directory), "prog.py")
    with open(path, "w") as f:
        f.write(PROGRAM)
    return path


def program_results(out):
    """{"squares": "True", "hosts": [...], "workers": 6} from its output."""
    r = {}
    for line in out.splitlines():
        key, _, rest = line.partition(" ")
        if key == "squares":
            r[key] = rest
        elif key == "hosts":
            r[key] = rest.split()
        elif key == "workers":
            r[key] = int(rest)
    return r
