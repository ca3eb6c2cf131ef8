"""Large values between workers on two hosts (issue 14 item 7): a value
made on one host and read by a task on the other arrives whole, at sizes
around the boundaries of the encrypted link's records (64 KiB), of the
sender's batches of records (16 records, 1 MiB), of the receiver's large-read
threshold (256 KiB) and past the huge-page threshold (4 MiB). Real worker
processes in network namespaces, a real encrypted tcp link; no speed is
asserted."""

import hashlib
import os
import pickle
import socket
import subprocess
import sys
import threading
import time

import pytest

from pydron import _backend

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "a4e17c3b9d2f4e58b0c6a1d7e3f9b2c5"  # 128 bits, test only
REC = 64 << 10  # wire/seal.h PDI_SEAL_REC_MAX
BATCH = 16 * REC  # wire/conn.c WBATCH records


def make(seed, n):
    """n bytes that differ from one position to the next (a dropped,
    repeated or swapped record would change the digest)."""
    import hashlib as h

    block = b"".join(h.sha256(b"%d:%d" % (seed, i)).digest() for i in range(2048))  # 64 KiB
    reps, rest = divmod(n, len(block))
    out = bytearray(block * reps + block[:rest])
    for i in range(0, n, 4093):  # no two 64 KiB blocks alike either
        out[i] = (i // 4093 + seed) & 0xFF
    return bytes(out)


def digests(a, b):
    import hashlib as h

    return len(a), h.sha256(a).hexdigest(), len(b), h.sha256(b).hexdigest()


def overhead(n):
    """Bytes the stored value adds to n bytes of data (its pickle)."""
    return len(pickle.dumps(bytes(n), 5)) - n


def data_len(stored):
    return stored - overhead(stored - overhead(stored))


@pytest.fixture(scope="module")
def two_hosts():
    from nethosts import NetHosts

    ok, why = NetHosts.available()
    if not ok:
        pytest.skip(why)
    with NetHosts(2) as net:
        with socket.socket() as so:
            so.bind(("0.0.0.0", 0))
            port = so.getsockname()[1]
        url = f"tcp://{net.driver_ip}:{port}"
        env = dict(os.environ, PYDRON_SECRET=SECRET)
        procs = []

        def launch():
            time.sleep(0.3)
            for h in net.hosts:
                procs.append(h.popen([sys.executable, "-m", "pydron.worker", "--connect", url,
                                      "--path", HERE], env=env, stderr=subprocess.DEVNULL))

        t = threading.Thread(target=launch)
        t.start()
        try:
            s = _backend.Session("remote", workers=2, address=url, secret=SECRET, policy="random")
        finally:
            t.join()
        try:
            yield s
        finally:
            s.close()
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()


# stored sizes (the pickle of the bytes) at and around each boundary
SIZES = [REC - 1, REC, REC + 1, 256 << 10, (256 << 10) + 1, BATCH - 1, BATCH, BATCH + 1,
         3 * BATCH + 17, (4 << 20) + REC + 3, 9 * BATCH + REC // 2]


@pytest.mark.parametrize("stored", SIZES)
def test_value_arrives_whole_across_hosts(two_hosts, stored):
    s = two_hosts
    n = data_len(stored)
    assert len(pickle.dumps(bytes(n), 5)) == stored
    want = (n, hashlib.sha256(make(1, n)).hexdigest(), n, hashlib.sha256(make(2, n)).hexdigest())
    moved = 0
    for attempt in range(12):
        # two values on (by chance, random policy) two hosts: the reader runs
        # where one is and fetches the other
        a = s.submit(make, (1, n), {})
        b = s.submit(make, (2, n), {})
        s.wait_all([a, b])
        before = s.stats()["bytes_between_workers"]
        f = s.submit(digests, (a, b), {})
        assert f.result(timeout=120) == want
        moved = s.stats()["bytes_between_workers"] - before
        del a, b, f
        if moved:
            break
    assert moved >= stored, f"no value went from one host to the other in 12 tries ({moved})"
