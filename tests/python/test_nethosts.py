"""The multi-host test helper itself: hosts reach each other and the test
process, the switch adds the asked delay, a link goes down and comes back."""
import socket
import sys
import time

import pytest

from nethosts import NetHosts

ok, why = NetHosts.available()
pytestmark = pytest.mark.skipif(not ok, reason=why)

ECHO = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
t = []
for _ in range(5):
    t0 = time.monotonic(); s.sendall(b"x"); s.recv(1); t.append(time.monotonic() - t0)
print(min(t) * 1000)
"""


def echo_server():
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(8)
    return srv


def serve_one(srv):
    c, _ = srv.accept()
    while (b := c.recv(1)):
        c.sendall(b)
    c.close()


@pytest.mark.parametrize("delay", [0.0, 10.0])
def test_hosts_reach_the_driver_with_the_asked_delay(delay):
    import threading
    with NetHosts(2, delay_ms=delay) as net:
        srv = echo_server()
        port = srv.getsockname()[1]
        th = threading.Thread(target=serve_one, args=(srv,), daemon=True)
        th.start()
        r = net.hosts[1].run([sys.executable, "-c", ECHO, net.driver_ip, str(port)])
        assert r.returncode == 0, r.stderr
        rtt = float(r.stdout)
        if delay:
            assert rtt >= 2 * delay * 0.95, rtt       # a round trip crosses the switch twice
        else:
            assert rtt < 10, rtt
        # host to host
        p = net.hosts[0].popen([sys.executable, "-c",
                                "import socket;s=socket.socket();s.bind(('0.0.0.0',7777));"
                                "s.listen();print('up',flush=True);c,_=s.accept();c.sendall(b'hi')"],
                               stdout=-1, text=True)
        assert p.stdout.readline().strip() == "up"
        r = net.hosts[1].run([sys.executable, "-c",
                              f"import socket;print(socket.create_connection(('{net.hosts[0].ip}',7777),"
                              "timeout=5).recv(2).decode())"])
        assert r.stdout.strip() == "hi", r.stderr
        p.wait(5)


@pytest.mark.parametrize("delay", [0.0, 5.0])
def test_link_down_cuts_a_host_and_up_restores_it(delay):
    with NetHosts(1, delay_ms=delay) as net:
        srv = echo_server()
        port = srv.getsockname()[1]
        probe = [sys.executable, "-c",
                 f"import socket;socket.create_connection(('{net.driver_ip}',{port}),timeout=1);print('ok')"]
        assert net.hosts[0].run(probe).stdout.strip() == "ok"
        net.link_down(0)
        r = net.hosts[0].run(probe)
        assert r.returncode != 0 and "ok" not in r.stdout
        net.link_up(0)
        assert net.hosts[0].run(probe).stdout.strip() == "ok"


def test_exit_kills_processes_and_removes_namespaces():
    import subprocess
    with NetHosts(1) as net:
        p = net.hosts[0].popen(["sleep", "600"])
        name = net.hosts[0].name
    assert p.wait(30) == -9
    assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
