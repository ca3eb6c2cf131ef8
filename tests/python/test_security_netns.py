"""Attacks on links between hosts (issue 11): the driver in this process,
workers in network namespaces (nethosts.py), a man in the middle (relay.py)
on the network between them. A relay that edits or injects records is
detected and the link dropped on driver-worker and worker-worker links; no
plaintext crosses a peer link while the driver serves TLS with a CA the test
made; flooding and slow clients from other hosts are capped while real
workers join. Needs root (network namespaces); skipped with the reason
otherwise."""

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from nethosts import NetHosts
from test_security import (MARKER, SECRET, combine, echo_marker, make_value, relay_report,
                           run_session, secret_file, stop, thread_count, wait_relays_done)

HERE = os.path.dirname(os.path.abspath(__file__))
OK, WHY = NetHosts.available()
pytestmark = pytest.mark.skipif(not OK, reason=WHY)


def free_port_on(ip):
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def relay_at(tmp_path, ip, target, mode="pass", direction="up", record=0, name="relay"):
    """relay.py listening on ip (this process's address on the hosts'
    network) and forwarding to target ("ip:port")."""
    port = free_port_on(ip)
    report = tmp_path / f"{name}.jsonl"
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "relay.py"), str(port), target,
                          str(report), "--mode", mode, "--dir", direction, "--record",
                          str(record), "--marker", MARKER, "--listen", ip],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p, port, report


def host_worker(host, url, sf, *extra, env=None, log=None):
    cmd = [sys.executable, "-m", "pydron", "worker", "--connect", url, "--secret-file", sf,
           "--path", HERE, *extra]
    return host.popen(cmd, env=dict(os.environ, **(env or {})),
                      stderr=log if log is not None else subprocess.DEVNULL)


def peer_args(net, host, relay_port, peer_port):
    """A worker on host listening for peers on its own address but
    announcing the relay's, so that every fetch from it crosses the relay."""
    return (("--threads", "1", "--peer-url", f"tcp://{host.ip}:{peer_port}"),
            {"PYDRON_PEER_ADVERTISE": f"tcp://{net.driver_ip}:{relay_port}"})


def fetch_rounds(s, rounds=3, n=20):
    for _ in range(rounds):
        vals = [s.submit(make_value, (i,), {}) for i in range(n)]
        total = s.submit(combine, tuple(vals), {})
        assert total.result(timeout=120) == sum(len(MARKER) * 400 + len(str(i))
                                                for i in range(n))


@pytest.mark.parametrize("mode,direction", [("flip", "down"), ("inject", "down"),
                                            ("flip", "up"), ("replay", "up")])
def test_relay_between_hosts_on_driver_link_is_detected(tmp_path, capfd, mode, direction):
    """Worker on host 0 reaches the driver through a tampering relay, the
    worker on host 1 directly: the tampered link is dropped with a clear
    message and every result is right."""
    sf = secret_file(tmp_path)
    with NetHosts(2) as net:
        dport = free_port_on(net.driver_ip)
        url = f"tcp://{net.driver_ip}:{dport}"
        relay, rport, rrep = relay_at(tmp_path, net.driver_ip, f"{net.driver_ip}:{dport}",
                                      mode, direction, record=1)
        wlog = open(tmp_path / "worker.log", "w")
        procs = []

        def launch():
            procs.append(host_worker(net.hosts[0], f"tcp://{net.driver_ip}:{rport}", sf,
                                     log=wlog))
            procs.append(host_worker(net.hosts[1], url, sf))

        try:
            s = run_session(url, 2, launch)
            fs = [s.submit(echo_marker, (f"t{i}",), {}) for i in range(200)]
            assert [f.result(timeout=120) for f in fs] == [f"t{i}|{MARKER}" for i in range(200)]
            deadline = time.time() + 20
            while time.time() < deadline and not any(r["acted"] for r in relay_report(rrep)):
                time.sleep(0.1)
            assert any(r["acted"] for r in relay_report(rrep)), relay_report(rrep)
            s.close()
        finally:
            stop(procs + [relay])
            wlog.close()
    err = capfd.readouterr().err + (tmp_path / "worker.log").read_text()
    assert "failed authentication" in err, err


@pytest.mark.parametrize("mode", ["flip", "inject", "replay"])
def test_relay_between_hosts_on_peer_link_is_detected(tmp_path, mode):
    """Two workers on two hosts fetch values from each other through relays
    on the network that tamper with the first reply: the fetching worker
    drops the link and says why, redials, and the results stay right."""
    sf = secret_file(tmp_path)
    with NetHosts(2) as net:
        dport = free_port_on(net.driver_ip)
        url = f"tcp://{net.driver_ip}:{dport}"
        relays, procs = [], []
        logs = [open(tmp_path / f"w{i}.log", "w") for i in range(2)]
        try:
            args = []
            for i, h in enumerate(net.hosts):
                pp = 20000 + (os.getpid() + i) % 20000
                r, rp, rep = relay_at(tmp_path, net.driver_ip, f"{h.ip}:{pp}", mode, "down",
                                      record=0, name=f"peer{i}")
                relays.append((r, rep))
                args.append(peer_args(net, h, rp, pp))

            def launch():
                for i, h in enumerate(net.hosts):
                    procs.append(host_worker(h, url, sf, *args[i][0], env=args[i][1],
                                             log=logs[i]))

            s = run_session(url, 2, launch)
            fetch_rounds(s)
            s.close()
            for p in procs:
                p.wait(timeout=30)
            wait_relays_done([r for r, _ in relays])  # they report as each link ends
        finally:
            stop(procs + [r for r, _ in relays])
            for f in logs:
                f.close()
    assert any(r["acted"] for _, rep in relays for r in relay_report(rep))
    err = "".join((tmp_path / f"w{i}.log").read_text() for i in range(2))
    assert "failed authentication" in err, err


def make_ca_and_cert(tmp_path, ip):
    """A CA made by the test and a certificate for ip signed by it. mbedTLS
    2.x (nng's TLS here) matches an IP against the CN and fails the whole
    handshake on an iPAddress subjectAltName, so the certificate has none."""
    d = str(tmp_path)

    def ssl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/ca.key", "-out",
        f"{d}/ca.pem", "-days", "1", "-subj", "/CN=pydron test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/drv.key", "-out",
        f"{d}/drv.csr", "-subj", f"/CN={ip}")
    ssl("x509", "-req", "-in", f"{d}/drv.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-out", f"{d}/drv.pem", "-days", "1")
    os.chmod(f"{d}/drv.key", 0o600)
    return f"{d}/ca.pem", f"{d}/drv.pem", f"{d}/drv.key"


def test_no_plaintext_on_peer_links_between_hosts_under_tls(tmp_path):
    """The driver serves tls+tcp:// with a certificate from the test's CA;
    workers on two hosts verify it (--tls-ca) and fetch values from each
    other through watching relays: bytes cross the peer links, the marker
    in every value never does (before: peer transfers were in clear text
    even under TLS)."""
    sf = secret_file(tmp_path)
    with NetHosts(2) as net:
        ca, cert, key = make_ca_and_cert(tmp_path, net.driver_ip)
        dport = free_port_on(net.driver_ip)
        url = f"tls+tcp://{net.driver_ip}:{dport}"
        relays, procs = [], []
        try:
            args = []
            for i, h in enumerate(net.hosts):
                pp = 20000 + (os.getpid() + 7 + i) % 20000
                r, rp, rep = relay_at(tmp_path, net.driver_ip, f"{h.ip}:{pp}", name=f"peer{i}")
                relays.append((r, rep))
                args.append(peer_args(net, h, rp, pp))

            def launch():
                for i, h in enumerate(net.hosts):
                    procs.append(host_worker(h, url, sf, "--tls-ca", ca, *args[i][0],
                                             env=args[i][1]))

            import threading

            t = threading.Thread(target=lambda: (time.sleep(0.3), launch()))
            t.start()
            from pydron import _backend

            try:
                s = _backend.Session("remote", workers=2, address=url, secret=SECRET,
                                     tls_cert=cert, tls_key=key)
            finally:
                t.join()
            fs = [s.submit(echo_marker, (f"a{i}",), {}) for i in range(20)]
            assert [f.result(timeout=60) for f in fs] == [f"a{i}|{MARKER}" for i in range(20)]
            fetch_rounds(s)
            s.close()
            for p in procs:
                p.wait(timeout=30)
            wait_relays_done([r for r, _ in relays])  # they report as each link ends
        finally:
            stop(procs + [r for r, _ in relays])
    peers = [r for _, rep in relays for r in relay_report(rep)]
    assert sum(r["bytes"] for r in peers) > 20 * 400 * len(MARKER), peers
    assert not any(r["marker_seen"] for r in peers), peers


FLOOD = textwrap.dedent("""
    import socket, sys, time
    host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    held, made, closed = [], 0, 0
    end = time.time() + secs
    slow = socket.create_connection((host, port))   # one byte every 0.5 s
    hello = b"PDRN\\x01\\x00\\x00\\x00" + (200).to_bytes(4, "little") + bytes(208)
    slow_closed_after = None
    t0 = time.time()
    k = 0
    while time.time() < end:
        while len(held) < n and time.time() < end:   # connect and say nothing
            c = socket.socket()
            c.settimeout(2)
            try:
                c.connect((host, port)); held.append(c); made += 1
            except OSError:
                c.close()
        for c in list(held):                      # count what the driver closed
            c.setblocking(False)
            try:
                if c.recv(1) == b"":
                    raise OSError
            except BlockingIOError:
                continue
            except OSError:
                pass
            held.remove(c); c.close(); closed += 1
        if slow_closed_after is None and k < len(hello):
            try:
                slow.sendall(hello[k:k + 1]); k += 1
            except OSError:
                slow_closed_after = time.time() - t0
        time.sleep(0.5)
    if slow_closed_after is None:
        try:
            slow.setblocking(False)
            if slow.recv(1) == b"":
                slow_closed_after = time.time() - t0
        except BlockingIOError:
            pass
        except OSError:
            slow_closed_after = time.time() - t0
    print(made, closed, -1 if slow_closed_after is None else round(slow_closed_after, 1))
""")


def test_flood_and_slow_clients_from_other_hosts_are_capped_while_workers_join(
        tmp_path, capfd, monkeypatch):
    """Hosts 2 and 3 each keep 60 silent connections open (reconnecting
    whatever the driver closes) and drip a Hello one byte per 0.5 s; the
    driver holds at most PYDRON_MAX_HANDSHAKES_PER_ADDR handshakes per
    address, closes the drip at the handshake deadline, and real workers
    on hosts 0 and 1 join during the flood and run tasks."""
    monkeypatch.setenv("PYDRON_MAX_HANDSHAKES", "16")
    monkeypatch.setenv("PYDRON_MAX_HANDSHAKES_PER_ADDR", "4")
    monkeypatch.setenv("PYDRON_HANDSHAKE_MS", "2000")
    sf = secret_file(tmp_path)
    (tmp_path / "flood.py").write_text(FLOOD)
    with NetHosts(4) as net:
        dport = free_port_on(net.driver_ip)
        url = f"tcp://{net.driver_ip}:{dport}"
        flood, procs = [], []
        base, peak = [0], [0]

        def launch():
            base[0] = thread_count(os.getpid())
            for h in net.hosts[2:]:
                flood.append(h.popen([sys.executable, str(tmp_path / "flood.py"),
                                      net.driver_ip, str(dport), "60", "8"],
                                     stdout=subprocess.PIPE, text=True))
            time.sleep(1.5)
            peak[0] = thread_count(os.getpid())
            for h in net.hosts[:2]:
                procs.append(host_worker(h, url, sf))

        try:
            s = run_session(url, 2, launch, timeout=120)
            peak[0] = max(peak[0], thread_count(os.getpid()))
            fs = [s.submit(echo_marker, (f"f{i}",), {}) for i in range(50)]
            assert [f.result(timeout=120) for f in fs] == [f"f{i}|{MARKER}" for i in range(50)]
            peak[0] = max(peak[0], thread_count(os.getpid()))
            outs = [f.communicate(timeout=60)[0].split() for f in flood]
            s.close()
        finally:
            stop(flood + procs)
    # both workers joined during the flood (the session waited for 2)
    for made, closed, slow_after in ([int(x) for x in o[:2]] + [float(o[2])] for o in outs):
        # the per-address cap closed most connections at once, so the
        # flooder had to make many more than the 60 it holds
        assert made > 60 and closed > 30, (made, closed)
        # the drip was cut at the 2 s handshake deadline, not served forever
        assert 0 < slow_after < 6, slow_after
    # handshake threads are capped: 2 addresses x 4 (plus the session's own)
    assert peak[0] - base[0] <= 16 + 12, (base[0], peak[0])
    err = capfd.readouterr().err
    assert err.count("refused connection from") <= 12, err
