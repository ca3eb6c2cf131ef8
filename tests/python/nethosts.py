"""Hosts for multi-machine tests: Linux network namespaces on one network.

    ok, why = NetHosts.available()          # pytest.skip(why) when not ok
    with NetHosts(3, delay_ms=0.0) as net:
        net.driver_ip                        # this process's address on that network
        h = net.hosts[0]                     # h.name (netns), h.ip, h.index
        p = h.popen(argv, **popen_kwargs)    # argv inside the namespace
        r = h.run(argv, timeout=30)          # CompletedProcess, text, captured
        net.link_down(0); net.link_up(0)     # cut / restore one host's link

Every host is a network namespace with its own loopback and one link to the
network; the test process (root namespace) is on the same network at
`driver_ip`, so a driver started by the test is dialable from every host.

delay_ms == 0: a kernel bridge with one veth pair per host (full speed).
delay_ms > 0: these kernels have no `tc netem`, so each party gets a TUN
device and a small user-space switch (this file run as a program) forwards
every IPv4 packet to the party that owns its destination address after
delay_ms, one way. Link down drops the host's packets (its sockets stay).

Hosts share the file system, as cluster nodes on NFS would. On exit every
process in the namespaces is killed and the namespaces and links removed.
"""
from __future__ import annotations

import fcntl
import heapq
import os
import select
import shutil
import struct
import subprocess
import sys
import time

_IP = shutil.which("ip") or "/usr/sbin/ip"


def _ip(*args, check=True):
    r = subprocess.run([_IP, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


class Host:
    def __init__(self, net, index, name, ip):
        self.net, self.index, self.name, self.ip = net, index, name, ip
        self.started = []  # popen()'s processes: killed at exit even if not yet in the namespace

    def argv(self, argv):
        return [_IP, "netns", "exec", self.name, *argv]

    def popen(self, argv, **kw):
        p = subprocess.Popen(self.argv(argv), **kw)
        self.started.append(p)
        return p

    def run(self, argv, timeout=30, check=False, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.argv(argv), timeout=timeout, check=check, **kw)

    def pids(self):
        """Live processes in the namespace (zombies waiting for their
        parent do not count)."""
        r = _ip("netns", "pids", self.name, check=False)
        live = []
        for p in r.stdout.split():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        live.append(int(p))
            except (OSError, IndexError):
                pass
        return live

    def __repr__(self):
        return f"Host({self.index}, {self.name}, {self.ip})"


class NetHosts:
    @staticmethod
    def available():
        if os.geteuid() != 0:
            return False, "needs root to make network namespaces"
        if not os.path.exists(_IP):
            return False, "needs iproute2 (ip)"
        probe = f"pyhprobe{os.getpid()}"
        r = _ip("netns", "add", probe, check=False)
        if r.returncode != 0:
            return False, f"cannot create network namespaces: {r.stderr.strip()}"
        _ip("netns", "del", probe, check=False)
        return True, ""

    def __init__(self, n, delay_ms=0.0):
        if n < 1:
            raise ValueError("NetHosts needs at least one host")
        self.n, self.delay_ms = n, float(delay_ms)
        pid = os.getpid()
        # A /24 per test process: 10.X.Y.0 with X in 64..127.
        self._net = f"10.{64 + (pid >> 8) % 64}.{pid % 256}"
        self._tag = f"{pid % 100000}{int(time.time() * 1000) % 1000:03d}"
        self.driver_ip = f"{self._net}.254"
        self.hosts = [Host(self, i, f"pyh{self._tag}-{i}", f"{self._net}.{i + 1}")
                      for i in range(n)]
        self._switch = None
        self._made = []

    # ------------------------------------------------------------ setup
    def __enter__(self):
        try:
            for h in self.hosts:
                _ip("netns", "add", h.name)
                self._made.append(h.name)
                _ip("-n", h.name, "link", "set", "lo", "up")
            if self.delay_ms > 0:
                self._up_switch()
            else:
                self._up_bridge()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _bridge(self):
        return f"pyb{self._tag}"

    def _veth(self, i):
        return f"pyv{self._tag}{i}"

    def _up_bridge(self):
        br = self._bridge()
        _ip("link", "add", br, "type", "bridge")
        _ip("addr", "add", f"{self.driver_ip}/24", "dev", br)
        _ip("link", "set", br, "up")
        for h in self.hosts:
            v, inner = self._veth(h.index), f"pyi{self._tag}{h.index}"
            _ip("link", "add", v, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", h.name)
            _ip("-n", h.name, "link", "set", inner, "name", "eth0")
            _ip("-n", h.name, "addr", "add", f"{h.ip}/24", "dev", "eth0")
            _ip("-n", h.name, "link", "set", "eth0", "up")
            _ip("link", "set", v, "master", br)
            _ip("link", "set", v, "up")

    def _tun(self, i):
        return f"pyt{self._tag}{i}" if i >= 0 else f"pyt{self._tag}d"

    def _up_switch(self):
        names = [self._tun(-1)] + [self._tun(h.index) for h in self.hosts]
        ips = [self.driver_ip] + [h.ip for h in self.hosts]
        args = [sys.executable, os.path.abspath(__file__), "--switch", str(self.delay_ms)]
        args += [f"{nm}={ip}" for nm, ip in zip(names, ips)]
        self._switch = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        line = self._switch.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"nethosts switch did not start: {line!r}")
        d = names[0]
        _ip("link", "set", d, "mtu", "65000")
        _ip("addr", "add", f"{self.driver_ip}/24", "dev", d)
        _ip("link", "set", d, "up")
        for h in self.hosts:
            t = self._tun(h.index)
            _ip("link", "set", t, "netns", h.name)
            _ip("-n", h.name, "link", "set", t, "name", "eth0")
            _ip("-n", h.name, "link", "set", "eth0", "mtu", "65000")
            _ip("-n", h.name, "addr", "add", f"{h.ip}/24", "dev", "eth0")
            _ip("-n", h.name, "link", "set", "eth0", "up")

    # ------------------------------------------------------------ links
    def _link(self, i, up):
        h = self.hosts[i]
        if self._switch:
            self._switch.stdin.write(f"{'up' if up else 'down'} {h.ip}\n")
            self._switch.stdin.flush()
            if self._switch.stdout.readline().strip() != "ok":
                raise RuntimeError("nethosts switch did not answer")
        else:
            _ip("link", "set", self._veth(i), "up" if up else "down")
            if up:
                # the carrier comes some time after `ip link set up` (under
                # load, more than a connect's timeout): wait for it
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    out = subprocess.run(["ip", "-o", "link", "show", "dev", self._veth(i)],
                                         capture_output=True, text=True).stdout
                    if "LOWER_UP" in out:
                        break
                    time.sleep(0.02)
                # and for the bridge to forward on the port again (3 =
                # BR_STATE_FORWARDING); the host forgets neighbours it
                # failed to reach while the link was down, so that its next
                # connect asks again at once
                state = f"/sys/class/net/{self._veth(i)}/brport/state"
                while time.monotonic() < deadline:
                    try:
                        with open(state) as f:
                            if f.read().strip() == "3":
                                break
                    except OSError:
                        break   # not a bridge port: nothing to wait for
                    time.sleep(0.02)
                _ip("-n", h.name, "neigh", "flush", "all", check=False)

    def link_down(self, i):
        self._link(i, False)

    def link_up(self, i):
        self._link(i, True)

    # ------------------------------------------------------------ teardown
    def __exit__(self, *exc):
        for h in self.hosts:
            # a process started just now may still be `ip netns exec` in the
            # root namespace (not yet listed by `ip netns pids`)
            for p in h.started:
                if p.poll() is None:
                    p.kill()
            h.started.clear()
            if h.name in self._made:
                for p in h.pids():
                    try:
                        os.kill(p, 9)
                    except ProcessLookupError:
                        pass
        deadline = time.monotonic() + 5
        for h in self.hosts:
            while h.name in self._made and h.pids() and time.monotonic() < deadline:
                time.sleep(0.02)
        for name in self._made:
            _ip("netns", "del", name, check=False)
        self._made.clear()
        if self._switch:
            self._switch.kill()
            self._switch.wait()
            self._switch = None
        else:
            _ip("link", "del", self._bridge(), check=False)
        return False


# ---------------------------------------------------------------- the switch
_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000


def _open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    return fd


def _switch_main(delay_ms, specs):
    delay = delay_ms / 1000.0
    fds, owner = [], {}
    for spec in specs:
        name, ip = spec.split("=")
        fd = _open_tun(name)
        fds.append(fd)
        owner[bytes(int(x) for x in ip.split("."))] = fd
    down = set()
    print("ready", flush=True)
    queue, seq = [], 0
    poll = select.poll()
    for fd in fds:
        poll.register(fd, select.POLLIN)
    poll.register(0, select.POLLIN)
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(queue)
            try:
                os.write(fd, pkt)
            except OSError:
                pass        # the interface is down or gone: the packet is lost
        wait = max(0, int((queue[0][0] - now) * 1000) + 1) if queue else 1000
        for fd, ev in poll.poll(wait):
            if fd == 0:
                line = sys.stdin.readline()
                if not line:
                    return
                cmd, ip = line.split()
                key = bytes(int(x) for x in ip.split("."))
                (down.discard if cmd == "up" else down.add)(key)
                print("ok", flush=True)
                continue
            for _ in range(64):
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:         # its namespace is gone (teardown)
                    poll.unregister(fd)
                    break
                if len(pkt) < 20 or pkt[0] >> 4 != 4:
                    continue            # IPv4 only
                src, dst = pkt[12:16], pkt[16:20]
                out = owner.get(dst)
                if out is None or src in down or dst in down:
                    continue
                seq += 1
                heapq.heappush(queue, (time.monotonic() + delay, seq, out, pkt))


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--switch":
    _switch_main(float(sys.argv[2]), sys.argv[3:])
