"""Attacks on the remote path (issue 11): a relay that reads, edits, replays
or injects frames on driver-worker and worker-worker links; slow and
flooding clients; weak secrets, secrets in argv, secret files others can
read. Real processes and sockets; the man in the middle is relay.py."""

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from pydron import _backend, _core

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = "PYDRON-PLAINTEXT-MARKER-7f3a"
SECRET = "security-test-secret-0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def secret_file(tmp_path, text=SECRET + "\n", mode=0o600, name="secret"):
    f = tmp_path / name
    f.write_text(text)
    f.chmod(mode)
    return str(f)


def start_relay(tmp_path, target_port, mode="pass", direction="up", record=0, name="relay"):
    port = free_port()
    report = tmp_path / f"{name}.jsonl"
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "relay.py"), str(port),
                          f"127.0.0.1:{target_port}", str(report), "--mode", mode, "--dir",
                          direction, "--record", str(record), "--marker", MARKER],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p, port, report


def relay_report(report):
    if not report.exists():
        return []
    return [json.loads(line) for line in report.read_text().splitlines() if line.strip()]


def wait_relays_done(relays, timeout=20):
    """relays: Popen objects of relay.py. A relay writes a report line as
    each direction of a link ends, then that pump's thread ends: wait (up to
    timeout) until every relay is back to its one accepting thread, i.e.
    every link it relayed has ended and been reported."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        busy = []
        for p in relays:
            try:
                busy.append(p.poll() is None and thread_count(p.pid) > 1)
            except OSError:  # gone: it writes nothing more
                busy.append(False)
        if not any(busy):
            return
        time.sleep(0.05)


def worker(url, sf, *extra, env=None, log=None):
    cmd = [sys.executable, "-m", "pydron", "worker", "--connect", url, "--secret-file", sf,
           "--path", HERE, *extra]
    return subprocess.Popen(cmd, env=dict(os.environ, **(env or {})),
                            stderr=log if log is not None else subprocess.DEVNULL)


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def echo_marker(x):
    return x + "|" + MARKER


def make_value(i):
    import time as t

    t.sleep(0.05)
    return (MARKER * 400 + str(i)).encode()  # > inline_max: stays in the worker's store


def combine(*vals):
    return sum(len(v) for v in vals)


def run_session(url, nworkers, launch, timeout=60):
    """A remote session at url; launch() starts the workers once it listens."""
    t = threading.Thread(target=lambda: (time.sleep(0.3), launch()))
    t.start()
    try:
        return _backend.Session("remote", workers=nworkers, address=url, secret=SECRET)
    finally:
        t.join()


def test_relay_scanner_sees_plain_bytes(tmp_path):
    """Control: the relay does find the marker when it is sent in clear."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    relay, port, report = start_relay(tmp_path, srv.getsockname()[1])
    try:
        c = socket.create_connection(("127.0.0.1", port))
        s, _ = srv.accept()
        hello = b"PDRN" + b"\x01\x00\x00\x00" + (4).to_bytes(4, "little") + bytes(8) + b"abcd"
        for _ in range(2):
            c.sendall(hello)
        body = MARKER.encode() * 3
        c.sendall(len(body).to_bytes(4, "little") + body + bytes(16))
        got = b""
        while len(got) < 2 * len(hello) + 4 + len(body) + 16:
            got += s.recv(65536)
        c.close()
        s.close()
        for _ in range(100):
            if any(r["marker_seen"] for r in relay_report(report)):
                break
            time.sleep(0.05)
        assert any(r["marker_seen"] for r in relay_report(report))
    finally:
        stop([relay])
        srv.close()


def test_no_plaintext_on_driver_and_peer_links(tmp_path):
    """Task arguments, results and fetched values carry MARKER; a relay on
    the driver link and relays on both workers' peer links never see it."""
    sf = secret_file(tmp_path)
    dport = free_port()
    url = f"tcp://127.0.0.1:{dport}"
    relay, rport, rrep = start_relay(tmp_path, dport, name="drv")
    pa, pb = free_port(), free_port()
    ra, rpa, rrepa = start_relay(tmp_path, pa, name="peerA")
    rb, rpb, rrepb = start_relay(tmp_path, pb, name="peerB")
    procs = []

    def launch():
        procs.append(worker(f"tcp://127.0.0.1:{rport}", sf, "--threads", "1", "--peer-url",
                            f"tcp://127.0.0.1:{pa}",
                            env={"PYDRON_PEER_ADVERTISE": f"tcp://127.0.0.1:{rpa}"}))
        procs.append(worker(url, sf, "--threads", "1", "--peer-url", f"tcp://127.0.0.1:{pb}",
                            env={"PYDRON_PEER_ADVERTISE": f"tcp://127.0.0.1:{rpb}"}))

    try:
        s = run_session(url, 2, launch)
        fs = [s.submit(echo_marker, (f"arg-{i}-{MARKER}",), {}) for i in range(50)]
        assert [f.result(timeout=60) for f in fs] == [f"arg-{i}-{MARKER}|{MARKER}"
                                                       for i in range(50)]
        for i in range(3):  # values on both workers, each consumer fetches some
            vals = [s.submit(make_value, (i,), {}) for i in range(20)]
            total = s.submit(combine, tuple(vals), {})
            assert total.result(timeout=60) == sum(len(MARKER) * 400 + len(str(i))
                                                   for i in range(20))
        s.close()
        for p in procs:
            p.wait(timeout=30)
        wait_relays_done([relay, ra, rb])  # the relays report as each link ends
        drv = relay_report(rrep)
        peers = relay_report(rrepa) + relay_report(rrepb)
        assert drv and sum(r["bytes"] for r in drv) > 50 * len(MARKER)
        assert sum(r["bytes"] for r in peers) > 20 * len(MARKER), peers
        assert not any(r["marker_seen"] for r in drv + peers), drv + peers
    finally:
        stop(procs + [relay, ra, rb])


@pytest.mark.parametrize("mode,direction", [("flip", "up"), ("flip", "down"), ("replay", "up"),
                                            ("inject", "down"), ("drop", "up")])
def test_relay_tampering_on_driver_link_is_detected(tmp_path, capfd, mode, direction):
    """One worker behind a relay that tampers with one sealed record after
    the real handshake; another worker direct. The tampered link is dropped
    with a clear message, every result is right, the driver lives on."""
    sf = secret_file(tmp_path)
    dport = free_port()
    url = f"tcp://127.0.0.1:{dport}"
    # record 1: past the Welcome (down) / the first frame up; the worker has
    # joined, tasks are flowing
    relay, rport, rrep = start_relay(tmp_path, dport, mode, direction, record=1)
    wlog = open(tmp_path / "worker.log", "w")
    procs = []

    def launch():
        procs.append(worker(f"tcp://127.0.0.1:{rport}", sf, log=wlog))
        procs.append(worker(url, sf))

    try:
        s = run_session(url, 2, launch)
        fs = [s.submit(echo_marker, (f"t{i}",), {}) for i in range(200)]
        assert [f.result(timeout=60) for f in fs] == [f"t{i}|{MARKER}" for i in range(200)]
        deadline = time.time() + 20
        while time.time() < deadline and not any(r["acted"] for r in relay_report(rrep)):
            time.sleep(0.1)
        assert any(r["acted"] for r in relay_report(rrep)), relay_report(rrep)
        # the relayed worker's link ends (its process exits: driver lost)
        assert procs[0].wait(timeout=30) != 0 or direction == "up"
        s.close()
    finally:
        stop(procs + [relay])
        wlog.close()
    err = capfd.readouterr().err + (tmp_path / "worker.log").read_text()
    if mode == "drop":
        assert "failed authentication" in err or "lost" in err, err
    else:
        assert "failed authentication" in err, err


@pytest.mark.parametrize("mode", ["flip", "replay"])
def test_relay_tampering_on_peer_link_is_detected(tmp_path, mode):
    """Values fetched worker to worker through a tampering relay: the
    fetching worker drops the link and says why; results stay right."""
    sf = secret_file(tmp_path)
    dport = free_port()
    url = f"tcp://127.0.0.1:{dport}"
    pa, pb = free_port(), free_port()
    ra, rpa, rrepa = start_relay(tmp_path, pa, mode, "down", record=0, name="peerA")
    rb, rpb, rrepb = start_relay(tmp_path, pb, mode, "down", record=0, name="peerB")
    logs = [open(tmp_path / f"w{i}.log", "w") for i in range(2)]
    procs = []

    def launch():
        procs.append(worker(url, sf, "--threads", "1", "--peer-url", f"tcp://127.0.0.1:{pa}",
                            env={"PYDRON_PEER_ADVERTISE": f"tcp://127.0.0.1:{rpa}"}, log=logs[0]))
        procs.append(worker(url, sf, "--threads", "1", "--peer-url", f"tcp://127.0.0.1:{pb}",
                            env={"PYDRON_PEER_ADVERTISE": f"tcp://127.0.0.1:{rpb}"}, log=logs[1]))

    try:
        s = run_session(url, 2, launch)
        for i in range(3):
            vals = [s.submit(make_value, (i,), {}) for i in range(20)]
            total = s.submit(combine, tuple(vals), {})
            assert total.result(timeout=90) == sum(len(MARKER) * 400 + len(str(i))
                                                   for i in range(20))
        s.close()
        for p in procs:
            p.wait(timeout=30)
        wait_relays_done([ra, rb])  # the relays report as each link ends
    finally:
        stop(procs + [ra, rb])
        for f in logs:
            f.close()
    assert any(r["acted"] for r in relay_report(rrepa) + relay_report(rrepb))
    err = "".join((tmp_path / f"w{i}.log").read_text() for i in range(2))
    assert "failed authentication" in err, err


def thread_count(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def test_slow_client_is_dropped_at_the_handshake_deadline(tmp_path, capfd, monkeypatch):
    """A client that sends one byte every 0.5 s (each read well within any
    per-read timeout) is dropped when the whole handshake's deadline passes;
    before, it held its connection and thread forever."""
    monkeypatch.setenv("PYDRON_HANDSHAKE_MS", "1500")
    sf = secret_file(tmp_path)
    dport = free_port()
    url = f"tcp://127.0.0.1:{dport}"
    procs = []
    s = run_session(url, 1, lambda: procs.append(worker(url, sf)))
    try:
        c = socket.create_connection(("127.0.0.1", dport))
        c.settimeout(0.5)
        t0 = time.monotonic()
        closed_after = None
        hello = b"PDRN\x01\x00\x00\x00" + (200).to_bytes(4, "little") + bytes(8) + bytes(200)
        for b in hello:
            try:
                c.sendall(bytes([b]))
                if c.recv(1024) == b"":
                    closed_after = time.monotonic() - t0
                    break
            except socket.timeout:
                pass
            except OSError:
                closed_after = time.monotonic() - t0
                break
            if time.monotonic() - t0 > 30:
                break
        c.close()
        assert closed_after is not None, "a slow client held its handshake for 30 s"
        # the session still works
        assert s.submit(echo_marker, ("x",), {}).result(timeout=60) == "x|" + MARKER
    finally:
        s.close()
        stop(procs)
    assert "not finished in time" in capfd.readouterr().err


def test_flood_is_capped_and_a_real_worker_still_joins(tmp_path, capfd, monkeypatch):
    """300 silent connections from 30 loopback addresses: the driver keeps
    at most PYDRON_MAX_HANDSHAKES handshake threads, refuses an address's
    extra connections at once, logs a bounded number of lines, and a real
    worker that dials in during the flood joins and runs tasks."""
    monkeypatch.setenv("PYDRON_MAX_HANDSHAKES", "16")
    monkeypatch.setenv("PYDRON_MAX_HANDSHAKES_PER_ADDR", "4")
    sf = secret_file(tmp_path)
    dport = free_port()
    url = f"tcp://127.0.0.1:{dport}"
    flood = []
    procs = []
    peak = [0]
    base = [0]

    def launch():
        base[0] = thread_count(os.getpid())
        for i in range(300):
            c = socket.socket()
            c.bind((f"127.0.0.{2 + i % 30}", 0))
            try:
                c.connect(("127.0.0.1", dport))
            except OSError:
                c.close()
                continue
            flood.append(c)
        time.sleep(0.5)
        peak[0] = thread_count(os.getpid())
        procs.append(worker(url, sf))

    try:
        s = run_session(url, 1, launch)
        assert s.submit(echo_marker, ("during flood",), {}).result(timeout=60) == \
            "during flood|" + MARKER
        peak[0] = max(peak[0], thread_count(os.getpid()))
        s.close()
    finally:
        for c in flood:
            c.close()
        stop(procs)
    # 16 handshake threads at most (the threads of the session itself come
    # on top: allow them, but not one thread per flooding connection)
    assert peak[0] - base[0] <= 16 + 12, (base[0], peak[0])
    err = capfd.readouterr().err
    assert err.count("refused connection from") + err.count("closed the handshake") <= 12, err
    assert "were not logged" in err or err.count("refused connection from") <= 10


# ---------------------------------------------------------------------- TLS

def make_ca_and_cert(tmp_path, ip, name="ca"):
    """A CA made by the test and a certificate for ip signed by it. mbedTLS
    2.x (nng's TLS here) matches an IP against the CN and fails the whole
    handshake on an iPAddress subjectAltName, so the certificate has none."""
    d = str(tmp_path)

    def ssl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/{name}.key", "-out",
        f"{d}/{name}.pem", "-days", "1", "-subj", f"/CN=pydron test {name}")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/{name}-drv.key", "-out",
        f"{d}/{name}-drv.csr", "-subj", f"/CN={ip}")
    ssl("x509", "-req", "-in", f"{d}/{name}-drv.csr", "-CA", f"{d}/{name}.pem", "-CAkey",
        f"{d}/{name}.key", "-CAcreateserial", "-out", f"{d}/{name}-drv.pem", "-days", "1")
    os.chmod(f"{d}/{name}-drv.key", 0o600)
    return f"{d}/{name}.pem", f"{d}/{name}-drv.pem", f"{d}/{name}-drv.key"


TLS_DRIVER = """
import sys
import pydron
from pydron import functional, schedule

@functional
def square(x):
    return x * x

@schedule
def main(n):
    return sum([square(i) for i in range(n)])

url, sf, cert, key = sys.argv[1:5]
pydron.configure(executor="remote", workers=2, address=url, secret_file=sf,
                 tls_cert=cert, tls_key=key, worker_wait_timeout=60)
print("result", main(100), flush=True)
"""


def test_tls_from_configure_end_to_end(tmp_path):
    """A program turns TLS on with configure(tls_cert=, tls_key=) and a
    secret file; two Python workers verify the driver's certificate against
    the CA the test made (--tls-ca, PYDRON_TLS_CA) and prove the secret: the
    program's result comes back. Each side's check bites: a worker trusting another CA, a
    worker with the CA but a wrong secret, and a worker without a CA are
    refused with a message saying why, and the run is not disturbed."""
    if not shutil_which("openssl"):
        pytest.skip("needs openssl to make a CA")
    ca, cert, key = make_ca_and_cert(tmp_path, "127.0.0.1")
    other_ca, _, _ = make_ca_and_cert(tmp_path, "127.0.0.1", name="other")
    sf = secret_file(tmp_path)
    wrong = secret_file(tmp_path, "another-secret-0123456789abcdef-xyz\n", name="wrong")
    port = free_port()
    url = f"tls+tcp://127.0.0.1:{port}"
    (tmp_path / "drv.py").write_text(TLS_DRIVER)
    drv = subprocess.Popen([sys.executable, str(tmp_path / "drv.py"), url, sf, cert, key],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, PYTHONPATH=HERE))
    bad = []
    good = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        run = dict(capture_output=True, text=True, timeout=60)
        # the worker checks the driver: another CA's trust is not enough
        bad.append(subprocess.run([_worker_exe(), "--connect", url, "--secret-file", sf,
                                   "--tls-ca", other_ca], **run))
        # the driver checks the worker: the CA without the secret is not enough
        bad.append(subprocess.run([_worker_exe(), "--connect", url, "--secret-file", wrong,
                                   "--tls-ca", ca], **run))
        # no CA: the worker refuses to talk TLS it cannot verify
        env = {k: v for k, v in os.environ.items() if k != "PYDRON_TLS_CA"}
        bad.append(subprocess.run([sys.executable, "-m", "pydron", "worker", "--connect", url,
                                   "--secret-file", sf], env=env, **run))
        good.append(subprocess.Popen([sys.executable, "-m", "pydron", "worker", "--connect", url,
                                      "--secret-file", sf, "--path", HERE, "--tls-ca", ca]))
        good.append(subprocess.Popen([sys.executable, "-m", "pydron", "worker", "--connect", url,
                                      "--secret-file", sf, "--path", HERE],
                                     env=dict(os.environ, PYDRON_TLS_CA=ca)))
        out, err = drv.communicate(timeout=120)
    finally:
        stop(good + [drv])
    assert drv.returncode == 0, err
    assert f"result {sum(i * i for i in range(100))}" in out, (out, err)
    assert bad[0].returncode != 0 and "TLS failed" in bad[0].stderr, bad[0].stderr
    assert "certificate" in bad[0].stderr
    assert bad[1].returncode != 0 and "refused" in bad[1].stderr, bad[1].stderr
    assert bad[2].returncode != 0 and "--tls-ca" in bad[2].stderr, bad[2].stderr
    assert "wrong shared secret" in err, err


@pytest.mark.parametrize("which", ["c", "python"])
def test_worker_dialling_tcp_to_a_tls_port_says_so(tmp_path, capfd, monkeypatch, which):
    """Before: the worker exited with status 0 and no message while the
    driver blamed the certificate. Now both say the scheme may not match."""
    monkeypatch.setenv("PYDRON_CONNECT_TIMEOUT_MS", "4000")
    if not shutil_which("openssl"):
        pytest.skip("needs openssl to make a certificate")
    ca, cert, key = make_ca_and_cert(tmp_path, "127.0.0.1")
    sf = secret_file(tmp_path)
    port = free_port()
    procs = []
    cmd = ([_worker_exe()] if which == "c" else
           [sys.executable, "-m", "pydron", "worker", "--path", HERE])

    def launch():
        r = subprocess.run(cmd + ["--connect", f"tcp://127.0.0.1:{port}", "--secret-file", sf],
                           capture_output=True, text=True, timeout=60)
        procs.append(r)

    s = None
    t = threading.Thread(target=lambda: (time.sleep(0.3), launch()))
    t.start()
    try:
        with pytest.raises(_core.PydronError):
            s = _backend.Session("remote", workers=1, address=f"tls+tcp://127.0.0.1:{port}",
                                 secret=SECRET, tls_cert=cert, tls_key=key,
                                 worker_wait_timeout=None)
    finally:
        t.join()
        if s:
            s.close()
    r = procs[0]
    assert r.returncode != 0, r
    assert "does the scheme match" in r.stderr and "tls+tcp://" in r.stderr, r.stderr
    err = capfd.readouterr().err
    assert "tcp:// instead of tls+tcp://" in err, err


def shutil_which(name):
    import shutil

    return shutil.which(name)


# ------------------------------------------------------------ fd exhaustion

EMFILE_DRIVER = """
import os, resource, sys
from pydron import _backend
sys.path.insert(0, sys.argv[3])
from test_security import echo_marker
url, secret = sys.argv[1], sys.argv[2]
# a real fd limit: what is open now plus a little for the session itself
nfds = len(os.listdir("/proc/self/fd"))
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (nfds + 48, hard))
print("limit", nfds + 48, flush=True)
s = _backend.Session("remote", workers=1, address=url, secret=secret)
print("joined", flush=True)
print("result", s.submit(echo_marker, ("after",), {}).result(timeout=60), flush=True)
s.close()
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_fd_limit_in_the_driver_backs_off_and_recovers(tmp_path):
    """The driver runs with RLIMIT_NOFILE lowered to what it has open plus
    48; silent connections use up the rest, so accept fails with EMFILE.
    Before, the acceptor spun at 100% CPU on accept; now it logs the
    failure (rate-limited) and waits, and once the connections go (the
    handshake deadline closes them) a real worker joins and runs a task."""
    sf = secret_file(tmp_path)
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    (tmp_path / "drv.py").write_text(EMFILE_DRIVER)
    env = dict(os.environ, PYDRON_MAX_HANDSHAKES="1000", PYDRON_MAX_HANDSHAKES_PER_ADDR="1000",
               PYDRON_HANDSHAKE_MS="6000")
    drv = subprocess.Popen([sys.executable, str(tmp_path / "drv.py"), url, SECRET, HERE],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    flood, procs = [], []
    try:
        assert drv.stdout.readline().startswith("limit")
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        for _ in range(150):  # more than the driver has fds for
            c = socket.socket()
            c.settimeout(2)
            try:
                c.connect(("127.0.0.1", port))
            except OSError:
                c.close()
                continue
            flood.append(c)
        time.sleep(0.5)
        cpu0, t0 = cpu_seconds(drv.pid), time.monotonic()
        time.sleep(3)
        cpu = cpu_seconds(drv.pid) - cpu0
        wall = time.monotonic() - t0
        for c in flood:
            c.close()
        procs.append(worker(url, sf))
        out, err = drv.communicate(timeout=120)
    finally:
        for c in flood:
            c.close()
        stop(procs + [drv])
    assert "accept failed" in err and "waiting" in err, err
    # a spinning acceptor takes a whole core; backing off takes next to none
    assert cpu < 0.5 * wall, (cpu, wall)
    assert err.count("accept failed") <= 12, err  # rate-limited
    assert "joined" in out and f"result after|{MARKER}" in out, (out, err)


# ------------------------------------------------------------------ secrets

def test_weak_secret_refused_everywhere(tmp_path):
    import pydron

    with pytest.raises(ValueError, match="too weak.*python -m pydron secret"):
        pydron.configure(executor="remote", secret="a")
    pydron.config.reset()
    weak = secret_file(tmp_path, "password\n")
    for cmd in ([sys.executable, "-m", "pydron", "worker"], [_worker_exe()]):
        r = subprocess.run(cmd + ["--connect", "tcp://127.0.0.1:9", "--secret-file", weak],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "too weak" in r.stderr, (cmd, r.stderr)


def test_secret_in_argv_refused(tmp_path):
    for cmd in ([sys.executable, "-m", "pydron", "worker"], [_worker_exe()]):
        r = subprocess.run(cmd + ["--connect", "tcp://127.0.0.1:9", "--secret", SECRET],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (cmd, r.stderr)
        assert "--secret-file" in r.stderr and "ps" in r.stderr, r.stderr


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o666])
def test_secret_file_readable_by_others_refused(tmp_path, mode):
    sf = secret_file(tmp_path, mode=mode)
    for cmd in ([sys.executable, "-m", "pydron", "worker"], [_worker_exe()]):
        r = subprocess.run(cmd + ["--connect", "tcp://127.0.0.1:9", "--secret-file", sf],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and f"chmod 600 {sf}" in r.stderr, (cmd, r.stderr)
    with pytest.raises(_core.PydronError, match="chmod 600"):
        _core.secret_read_file(sf)


def test_c_and_python_workers_read_the_same_secret_file(tmp_path):
    """Trailing CR/LF/blanks are not part of the secret, for both workers
    (before: C stripped only newlines, Python str.strip() everything).

    A Python program's driver takes only Python workers, so the C worker
    shows it read the same secret by getting past the handshake: it is then
    refused for the kind of its tasks, not for its proof."""
    sf = secret_file(tmp_path, SECRET + " \r\n\n")
    assert _core.secret_read_file(sf) == SECRET
    dport = free_port()
    url = f"tcp://127.0.0.1:{dport}"
    procs = []
    c_err = tmp_path / "c-worker.err"

    def launch():
        procs.append(worker(url, sf))
        with open(c_err, "wb") as f:
            procs.append(subprocess.Popen([_worker_exe(), "--connect", url, "--secret-file", sf],
                                          stderr=f))

    try:
        s = run_session(url, 1, launch)  # the Python worker joined: same secret
        assert procs[1].wait(timeout=60) == 1
        err = c_err.read_text()
        assert "cannot run 'python' tasks" in err, err
        assert "authentication failed" not in err and "proof" not in err, err
        s.close()
        assert procs[0].wait(timeout=30) == 0
    finally:
        stop(procs)


def test_generated_secret(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pydron", "secret"], capture_output=True,
                       text=True, timeout=60, check=True)
    s1 = r.stdout.strip()
    assert len(s1) == 64 and int(s1, 16) >= 0
    _core.secret_check(s1)
    assert _core.secret_generate() != s1


def _worker_exe():
    import pydron

    exe = os.path.join(os.path.dirname(pydron.__file__), "bin", "pydron-worker")
    assert os.access(exe, os.X_OK), exe
    return exe
