"""Workers started for the user (issue 14, launchers), with real parts: an
OpenSSH server in each of three network-namespace hosts (keys made here),
the command template, workers that start before their driver, through
`sh -c`/nohup, a C worker that a Python session must refuse, and the
remote executor taking every worker that dials in. Each driver is a real
program run in its own process (configure() + @schedule, as a user runs it)."""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import pydron
from nethosts import NetHosts

SECRET = "launch-test-secret-0123456789abcdef-XYZ"  # looked for in `ps`
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _program(tmp_path, body, name="prog.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def _run(prog, *args, env=None, timeout=240):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("PYDRON_"):
            del e[k]
    e.update(env or {})
    return subprocess.run([sys.executable, str(prog), *args], capture_output=True, text=True,
                          timeout=timeout, env=e)


# A program run on several hosts: each task says which network namespace
# (= which host) it ran in; the driver checks `ps` for the secret meanwhile.
WHERE = """
    import os, subprocess, sys
    import pydron
    from pydron import functional, schedule

    @functional
    def square(x):
        import os, time
        time.sleep(0.05)
        return x * x, os.readlink("/proc/self/ns/net"), os.getpid()

    @schedule
    def main(n):
        out = []
        for i in range(n):
            out.append(square(i))
        return out

    if __name__ == "__main__":
        pydron.configure(**eval(sys.argv[1]))
        res = main(int(sys.argv[2]))
        assert [r[0] for r in res] == [i * i for i in range(int(sys.argv[2]))], res
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        secret = os.environ.get("PYDRON_SECRET", "")
        print("SECRET_IN_PS", bool(secret) and secret in ps)
        print("WORKER_PROCS", sum("pydron.worker" in l for l in ps.splitlines()))
        print("HOSTS", len({r[1] for r in res}))
        print("HERE", os.readlink("/proc/self/ns/net") in {r[1] for r in res})
        print("PIDS", len({r[2] for r in res}))
        print("NWORKERS", pydron.stats()["workers"] if hasattr(pydron, "stats") else -1)
"""


def _field(out, key):
    for line in out.splitlines():
        if line.startswith(key + " "):
            return line.split(" ", 1)[1]
    raise AssertionError(f"{key} not in output:\n{out}")


def _worker_procs_left(marker):
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [l for l in ps.splitlines() if "pydron.worker" in l and marker in l]


# ------------------------------------------------------------------ ssh


@pytest.fixture
def ssh_cluster(tmp_path):
    ok, why = NetHosts.available()
    if not ok:
        pytest.skip(why)
    if not os.path.exists(SSHD) or not shutil.which("ssh"):
        pytest.skip("openssh-server is not installed (scripts/deps.sh test)")
    d = tmp_path / "ssh"
    d.mkdir(mode=0o700)
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                       check=True)
    (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    port = 22022
    with NetHosts(3) as net:
        hostpub = (d / "host_key.pub").read_text().split()[:2]
        (d / "known_hosts").write_text("".join(f"[{h.ip}]:{port} {' '.join(hostpub)}\n"
                                               for h in net.hosts))
        (d / "ssh_config").write_text(textwrap.dedent(f"""\
            Host *
              Port {port}
              User root
              IdentityFile {d}/user_key
              IdentitiesOnly yes
              UserKnownHostsFile {d}/known_hosts
              StrictHostKeyChecking yes
            """))
        daemons = []
        for h in net.hosts[:2] + net.hosts[2:]:
            cfg = d / f"sshd_{h.index}.conf"
            cfg.write_text(textwrap.dedent(f"""\
                Port {port}
                ListenAddress {h.ip}
                HostKey {d}/host_key
                PidFile {d}/sshd_{h.index}.pid
                AuthorizedKeysFile {d}/authorized_keys
                PermitRootLogin prohibit-password
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                StrictModes no
                """))
            daemons.append(h.popen([SSHD, "-D", "-e", "-f", str(cfg)], stderr=subprocess.PIPE,
                                   text=True))
        # wait until every sshd answers
        for h in net.hosts:
            for _ in range(100):
                r = subprocess.run(["ssh", "-F", str(d / "ssh_config"), "-o", "BatchMode=yes",
                                    h.ip, "true"], capture_output=True, text=True, timeout=30)
                if r.returncode == 0:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"sshd on {h.ip} does not answer: {r.stderr}")
        net.sshd = daemons  # per host: its sshd (a test may stop one)
        yield net, ["-F", str(d / "ssh_config")]
        for p in daemons:
            p.kill()
            p.wait()


def test_ssh_launcher_runs_a_program_on_three_hosts_and_stops_the_workers(ssh_cluster, tmp_path):
    net, ssh_args = ssh_cluster
    h0, h1, h2 = net.hosts
    # workers=0: every CPU of every host (host 1 says 2 itself; the others
    # are asked for nproc over ssh)
    cfg = dict(cluster="ssh", hosts=[h0.ip, f"{h1.ip}:2", h2.ip], workers=0,
               launch_args=ssh_args, join_timeout=180)
    prog = _program(tmp_path, WHERE)
    r = _run(prog, repr(cfg), "30", env={"PYDRON_SECRET": SECRET})
    assert r.returncode == 0, r.stdout + r.stderr
    assert _field(r.stdout, "HOSTS") == "3", r.stdout
    assert _field(r.stdout, "HERE") == "False"  # no task ran in the driver's namespace
    assert _field(r.stdout, "SECRET_IN_PS") == "False"  # stdin, never argv
    assert int(_field(r.stdout, "WORKER_PROCS")) >= 3
    # the workers stopped with the program
    deadline = time.monotonic() + 20
    while _worker_procs_left(str(prog.parent)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _worker_procs_left(str(prog.parent))


def test_ssh_launcher_names_the_host_and_ssh_s_error(ssh_cluster, tmp_path):
    net, ssh_args = ssh_cluster
    # a port where nothing listens on host 1: ssh's own "Connection refused"
    cfg = dict(cluster="ssh", hosts=[net.hosts[0].ip, net.hosts[1].ip], workers=2,
               launch_args=ssh_args + ["-p", "1"], join_timeout=60)
    prog = _program(tmp_path, WHERE)
    t0 = time.monotonic()
    r = _run(prog, repr(cfg), "4")
    took = time.monotonic() - t0
    assert r.returncode != 0
    assert f"host {net.hosts[0].ip}" in r.stderr or f"host {net.hosts[1].ip}" in r.stderr, r.stderr
    assert "ssh" in r.stderr and "onnection refused" in r.stderr, r.stderr
    assert took < 55, f"the failure came after {took:.0f} s, not at once"


# A worker lost while its host is fine (issue 11 item 5, issue 14): the
# driver kills the worker process on one host (same pid namespace, other
# network namespace) in the middle of a run whose later tasks need values
# that lived on it; the launcher starts it again there, and later calls run
# on the replacement. argv: config, the victim host's network namespace
# ("*": any), then an sshd pid to stop first (0: none) and how long to wait
# for a replacement at the end.
RESTART = """
    import os, signal, sys, threading, time
    import pydron
    from pydron import functional, schedule

    @functional
    def where(x, delay):
        import os, time
        time.sleep(delay)
        return x, os.readlink("/proc/self/ns/net"), os.getpid()

    @functional
    def plus(a, b):
        return (a[0] + b[0], a[1], a[2])

    @schedule
    def spread(n, delay):
        out = []
        for i in range(n):
            out.append(where(i, delay))
        return out

    @schedule
    def tree(n, delay):
        xs = []
        for i in range(n):
            xs.append(where(i, delay))
        while len(xs) > 1:
            ys = []
            for k in range(0, len(xs) - 1, 2):
                ys.append(plus(xs[k], xs[k + 1]))
            if len(xs) % 2:
                ys.append(xs[-1])
            xs = ys
        return xs[0][0]

    if __name__ == "__main__":
        cfg, victim_ns, sshd_pid, wait_s = eval(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        pydron.configure(**cfg)
        first = spread(12, 0.05)
        here = lambda ns: victim_ns in ("*", ns)  # "*": any worker, anywhere
        victims = sorted({pid for _, ns, pid in first if here(ns)})
        assert victims, first
        victim = victims[0]
        if sshd_pid:
            os.kill(sshd_pid, signal.SIGKILL)  # no new session on that host
        ticks = os.sysconf("SC_CLK_TCK")

        def since_boot():
            with open("/proc/uptime") as f:
                return float(f.read().split()[0])

        def started(pid):  # seconds after boot; None if gone
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return int(f.read().rsplit(")", 1)[1].split()[19]) / ticks
            except OSError:
                return None

        killed_at = []

        def kill():
            killed_at.append(since_boot())
            os.kill(victim, signal.SIGKILL)

        # killed while the tree's leaves run (and some of its values live there)
        threading.Timer(0.3, kill).start()
        total = tree(48, 0.2)
        print("TREE", total == sum(range(48)), total)
        assert killed_at, "the run ended before the kill"
        # later calls: a worker started after the kill on the victim's host takes work
        replacement = None
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and replacement is None:
            for _, ns, pid in spread(12, 0.05):
                t = started(pid)
                if here(ns) and t is not None and t >= killed_at[0] - 0.05:
                    replacement = pid
            if replacement is None:
                time.sleep(0.5)
        print("REPLACED", replacement is not None)
        print("LATER", [r[0] for r in spread(6, 0.0)] == list(range(6)))
"""


def _ns_of(host):
    return host.run(["readlink", "/proc/self/ns/net"], check=True).stdout.strip()


def test_ssh_launcher_restarts_a_killed_worker_on_its_host(ssh_cluster, tmp_path):
    net, ssh_args = ssh_cluster
    h0, h1, h2 = net.hosts
    cfg = dict(cluster="ssh", hosts=[h0.ip, h1.ip, h2.ip], workers=3, launch_args=ssh_args,
               join_timeout=120)
    prog = _program(tmp_path, RESTART)
    r = _run(prog, repr(cfg), _ns_of(h1), "0", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _field(r.stdout, "TREE").startswith("True"), r.stdout + r.stderr
    assert _field(r.stdout, "REPLACED") == "True", r.stdout + r.stderr
    assert _field(r.stdout, "LATER") == "True", r.stdout + r.stderr
    assert f"worker 1 on host {h1.ip} was lost; starting it again" in r.stderr, r.stderr
    assert "capacity is gone" not in r.stderr, r.stderr


def test_ssh_launcher_says_capacity_is_gone_when_restarts_keep_failing(ssh_cluster, tmp_path):
    net, ssh_args = ssh_cluster
    h0, h1, h2 = net.hosts
    cfg = dict(cluster="ssh", hosts=[h0.ip, h1.ip, h2.ip], workers=3, launch_args=ssh_args,
               join_timeout=120)
    prog = _program(tmp_path, RESTART)
    # host 1's sshd is stopped before its worker is killed: every restart
    # meets "Connection refused"; the run ends right on the other two
    r = _run(prog, repr(cfg), _ns_of(h1), str(net.sshd[1].pid), "8")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _field(r.stdout, "TREE").startswith("True"), r.stdout + r.stderr
    assert _field(r.stdout, "REPLACED") == "False", r.stdout + r.stderr
    assert _field(r.stdout, "LATER") == "True", r.stdout + r.stderr
    gone = [l for l in r.stderr.splitlines() if "capacity is gone" in l]
    assert gone, r.stderr
    assert f"2 of 3 workers, host {h1.ip}" in gone[0], gone
    assert "onnection refused" in gone[0] and "ssh exited with status 255" in gone[0], gone


def test_ssh_launcher_needs_hosts():
    from pydron import config

    config.reset()
    with pytest.raises(ValueError, match="needs hosts"):
        config.configure(cluster="ssh")
    with pytest.raises(ValueError, match="cluster must be one of"):
        config.configure(cluster="sshh", hosts=["a"])
    with pytest.raises(ValueError, match="needs executor='remote'"):
        config.configure(executor="local", cluster="ssh", hosts=["a"])
    with pytest.raises(ValueError, match="worker count"):
        config.configure(cluster="ssh", hosts=["a:0"])
    config.reset()


def test_host_file_and_pydron_hosts(tmp_path, monkeypatch):
    from pydron import config

    f = tmp_path / "hosts.txt"
    f.write_text("# my hosts\nnode-a\nnode-b:4  # the big one\n\n")
    config.reset()
    monkeypatch.setenv("PYDRON_CLUSTER", "ssh")
    monkeypatch.setenv("PYDRON_HOSTS", str(f))
    r = config.resolved()
    assert r["executor"] == "remote" and r["cluster"] == "ssh"
    assert r["hosts"] == ["node-a", "node-b:4"]
    assert r["secret"] is None  # the launcher makes one
    # an Open MPI host file reads the same
    f.write_text("node-a slots=2\nnode-b slots=4 max_slots=8\nnode-c\n")
    assert config.resolved()["hosts"] == ["node-a:2", "node-b:4", "node-c"]
    f.write_text("node-a slots=two\n")
    with pytest.raises(ValueError, match="whole number"):
        config.resolved()
    monkeypatch.setenv("PYDRON_HOSTS", "a, b:2 c")
    assert config.resolved()["hosts"] == ["a", "b:2", "c"]
    monkeypatch.setenv("PYDRON_HOSTS", str(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match="does not exist"):
        config.resolved()
    config.reset()


# ------------------------------------------------------------- template

WORKER = f"{sys.executable} -m pydron.worker"


def test_command_template_per_worker_and_per_host(tmp_path):
    prog = _program(tmp_path, WHERE)
    log = tmp_path / "launch.log"
    # without {n}: once per worker, with {id} and {host}
    tpl = (f"echo {{host}} {{id}} >> {log}; exec {WORKER} --connect {{url}} "
           f"--secret-file {{secret_file}} --id {{id}}")
    cfg = dict(cluster="command", launch_command=tpl, hosts=["node-a", "node-b"], workers=2,
               join_timeout=120)
    r = _run(prog, repr(cfg), "8")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(log.read_text().split("\n")[:2]) == ["node-a 0", "node-b 1"]
    assert _field(r.stdout, "PIDS") == "2"
    # with {n}: once per host (here: once, no hosts), the secret on stdin
    tpl = (f"read -r s; i=0; while [ $i -lt {{n}} ]; do printf '%s\\n' \"$s\" | "
           f"{WORKER} --connect {{url}} --secret-file - & i=$((i+1)); done; wait")
    cfg = dict(cluster="command", launch_command=tpl, workers=3, join_timeout=120)
    r = _run(prog, repr(cfg), "9")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _field(r.stdout, "PIDS") == "3"


def test_command_template_runs_the_command_again_for_a_killed_worker(tmp_path):
    # no hosts: every worker is here, in the driver's namespace
    log = tmp_path / "launch.log"
    tpl = (f"echo {{id}} >> {log}; exec {WORKER} --connect {{url}} "
           f"--secret-file {{secret_file}} --id {{id}}")
    cfg = dict(cluster="command", launch_command=tpl, workers=2, join_timeout=120)
    prog = _program(tmp_path, RESTART)
    r = _run(prog, repr(cfg), os.readlink("/proc/self/ns/net"), "0", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _field(r.stdout, "TREE").startswith("True"), r.stdout + r.stderr
    assert _field(r.stdout, "REPLACED") == "True", r.stdout + r.stderr
    lines = log.read_text().split("\n")
    # started once per worker, then once more for the killed one, with its id
    assert sorted(lines[:2]) == ["0", "1"] and lines[2] in ("0", "1"), lines


def test_restarts_zero_from_configure_leaves_a_killed_worker_gone(tmp_path):
    # configure(restarts=0): the killed worker's command is not run again,
    # the run ends right on the other worker, and the log says why
    log = tmp_path / "launch.log"
    tpl = (f"echo {{id}} >> {log}; exec {WORKER} --connect {{url}} "
           f"--secret-file {{secret_file}} --id {{id}}")
    cfg = dict(cluster="command", launch_command=tpl, workers=2, join_timeout=120, restarts=0)
    prog = _program(tmp_path, RESTART)
    r = _run(prog, repr(cfg), os.readlink("/proc/self/ns/net"), "0", "6")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _field(r.stdout, "TREE").startswith("True"), r.stdout + r.stderr
    assert _field(r.stdout, "REPLACED") == "False", r.stdout + r.stderr
    assert _field(r.stdout, "LATER") == "True", r.stdout + r.stderr
    assert sorted(log.read_text().split()) == ["0", "1"]  # never started again
    gone = [l for l in r.stderr.splitlines() if "capacity is gone" in l]
    assert gone and "1 of 2 workers" in gone[0] and "restarts are off" in gone[0], r.stderr


def test_configure_checks_restarts():
    from pydron import config

    config.reset()
    try:
        for bad in (-1, 1.5, True, "3"):
            with pytest.raises(ValueError, match="restarts must be a whole number"):
                config.configure(cluster="command", launch_command="true {url}", restarts=bad)
            config.reset()
        with pytest.raises(ValueError, match="for workers a launcher starts"):
            config.configure(executor="local", restarts=2)
        config.reset()
        config.configure(cluster="command", launch_command="true {url}", restarts=3)
        assert config.resolved()["restarts"] == 3
    finally:
        config.reset()


def test_command_template_gives_up_on_a_worker_that_cannot_start_again(tmp_path):
    # the worker command works once per id: its second start fails at once
    tpl = (f"if [ -e {tmp_path}/started{{id}} ]; then echo 'no more machines' >&2; exit 7; fi; "
           f"touch {tmp_path}/started{{id}}; exec {WORKER} --connect {{url}} "
           f"--secret-file {{secret_file}} --id {{id}}")
    cfg = dict(cluster="command", launch_command=tpl, workers=2, join_timeout=120)
    prog = _program(tmp_path, RESTART)
    r = _run(prog, repr(cfg), os.readlink("/proc/self/ns/net"), "0", "6")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _field(r.stdout, "TREE").startswith("True"), r.stdout + r.stderr
    gone = [l for l in r.stderr.splitlines() if "capacity is gone" in l]
    assert gone and "1 of 2 workers" in gone[0], r.stderr
    assert "sh exited with status 7: no more machines" in gone[0], gone
    assert "3 tries" in gone[0], gone


def test_command_template_failure_is_reported_at_once_with_its_stderr(tmp_path):
    prog = _program(tmp_path, WHERE)
    cfg = dict(cluster="command", launch_command="echo 'cloud says: quota exceeded' >&2; exit 3",
               workers=2, join_timeout=100)
    t0 = time.monotonic()
    r = _run(prog, repr(cfg), "2")
    assert r.returncode != 0
    assert "0 of 2 workers joined" in r.stderr and "quota exceeded" in r.stderr, r.stderr
    assert "status 3" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 60


def test_detached_nohup_worker_with_a_foreign_parent_pid_runs(tmp_path):
    # srun/mpirun export the environment: PYDRON_PARENT_PID of someone else;
    # nohup + & detaches the worker (its parent becomes init)
    prog = _program(tmp_path, WHERE)
    tpl = (f"nohup {WORKER} --connect {{url}} --secret-file {{secret_file}} --id {{id}} "
           f"> {tmp_path}/w{{id}}.log 2>&1 &")
    cfg = dict(cluster="command", launch_command=tpl, workers=2, join_timeout=120)
    r = _run(prog, repr(cfg), "6", env={"PYDRON_PARENT_PID": "12345"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert _field(r.stdout, "PIDS") == "2"


# ------------------------------------------------- workers dialling in


def _start_worker(url, secret_file, *extra, c=False):
    if c:
        exe = pathlib.Path(pydron.__file__).parent / "bin" / "pydron-worker"
        if not exe.exists():
            pytest.skip("this install has no C worker")
        argv = [str(exe)]
    else:
        argv = [sys.executable, "-m", "pydron.worker"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYDRON_")}
    return subprocess.Popen([*argv, "--connect", url, "--secret-file", str(secret_file), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def secret_file(tmp_path):
    f = tmp_path / "secret"
    f.write_text(SECRET + "\n")
    f.chmod(0o600)
    return f


def test_workers_started_before_the_driver_join_and_all_are_taken(tmp_path, secret_file):
    # three workers first (they retry), then a driver without workers=
    url = f"tcp://127.0.0.1:{_free_port()}"
    ws = [_start_worker(url, secret_file) for _ in range(3)]
    time.sleep(2.0)
    assert all(w.poll() is None for w in ws), [w.communicate() for w in ws if w.poll() is not None]
    prog = _program(tmp_path, WHERE)
    cfg = dict(executor="remote", address=url, secret_file=str(secret_file))
    r = _run(prog, repr(cfg), "30")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _field(r.stdout, "PIDS") == "3", r.stdout + r.stderr
    assert "all worker slots are taken" not in r.stderr
    for w in ws:
        out, err = w.communicate(timeout=60)
        assert w.returncode == 0, err


def test_worker_without_a_driver_says_why_and_fails(secret_file):
    t0 = time.monotonic()
    w = _start_worker(f"tcp://127.0.0.1:{_free_port()}", secret_file, "--connect-timeout", "2")
    out, err = w.communicate(timeout=60)
    assert w.returncode != 0
    assert "cannot reach the driver" in err and "Connection refused" in err, err
    assert time.monotonic() - t0 >= 1.5  # it did try again


def test_c_worker_is_refused_by_a_python_session(tmp_path, secret_file):
    url = f"tcp://127.0.0.1:{_free_port()}"
    cw = _start_worker(url, secret_file, c=True)
    pw = _start_worker(url, secret_file)
    prog = _program(tmp_path, WHERE)
    cfg = dict(executor="remote", address=url, secret_file=str(secret_file))
    r = _run(prog, repr(cfg), "4")
    assert r.returncode == 0, r.stdout + r.stderr
    out, err = cw.communicate(timeout=60)
    assert cw.returncode != 0
    assert "cannot run 'python' tasks" in err and "python -m pydron worker" in err, err
    assert "cannot run 'python' tasks" in r.stderr  # the driver says so too
    pw.communicate(timeout=60)


def test_a_wildcard_listener_tells_workers_a_dialable_address(tmp_path, secret_file):
    port = _free_port()
    prog = _program(tmp_path, WHERE)
    cfg = dict(executor="remote", address=f"tcp://0.0.0.0:{port}", secret_file=str(secret_file),
               workers=1)
    p = subprocess.Popen([sys.executable, str(prog), repr(cfg), "2"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "start workers with" not in line and time.monotonic() < deadline:
            line = p.stderr.readline()
        assert "start workers with" in line, line
        hint = line.split("--connect ", 1)[1].split()[0]
        assert "0.0.0.0" not in hint and hint.endswith(f":{port}"), line
        w = _start_worker(hint, secret_file)  # the hint works as given
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
        w.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
