"""The driver's write watch of large arguments (bindings/python/src/wtrack.c,
issue 12): which pages of an array were written since the last check, so that
an unchanged array handed again is reused without reading it. Real memory,
real kernel: userfaultfd's asynchronous write protection and PAGEMAP_SCAN."""

import mmap
import os
import sys
import tempfile
import threading

import numpy as np
import pytest

from pydron import _core

MB = 1024 * 1024


def _supported() -> bool:
    a = np.ones(MB // 8)
    w = _core.watch(a)
    if w is None:
        return False
    w.stop()
    return True


@pytest.fixture
def supported():
    # Linux 6.7 has what it needs (UFFD_FEATURE_WP_ASYNC, PAGEMAP_SCAN); on
    # an older kernel the runtime compares bytes instead, which the
    # differential programs test either way
    if tuple(int(x) for x in os.uname().release.split(".")[:2]) < (6, 7):
        pytest.skip("Linux before 6.7 has no asynchronous write protection")
    assert _supported(), "Linux >= 6.7 but the write watch is refused"


def test_unchanged_changed_and_same_bytes(supported):
    a = np.arange(4 * MB // 8, dtype=np.float64)
    snap = a.copy()
    w = _core.watch(a)
    assert w.live and _core.watch_count() >= 1
    assert w.same(snap, a) is True
    a[12345] = a[12345]  # written, same bytes
    assert w.same(snap, a) is True
    assert w.same(snap, a) is True  # the written page is compared again
    a[100] = -1.0
    assert w.same(snap, a) is False
    # a change ends the watch: it never says "unchanged" again
    assert not w.live
    assert w.same(snap, a) is None
    a[100] = snap[100]
    w = _core.watch(a)
    a.view(np.uint8)[-1] ^= 0xFF  # the last byte, on a page shared with what follows
    assert w.same(snap, a) is False
    w.stop()
    assert not w.live


def test_kernel_and_thread_writes_are_seen(supported):
    a = np.zeros(2 * MB, dtype=np.uint8)
    snap = a.copy()
    w = _core.watch(a)
    with tempfile.TemporaryFile() as f:
        f.write(b"\x05" * 64)
        f.seek(0)
        f.readinto(memoryview(a)[MB + 7:MB + 71])
    assert w.same(snap, a) is False
    a[:] = 0
    w = _core.watch(a)
    assert w.same(snap, a) is True
    t = threading.Thread(target=lambda: a.__setitem__(5, 1))
    t.start()
    t.join()
    assert w.same(snap, a) is False


def test_a_page_two_watches_share(supported):
    base = np.zeros(2 * MB + 3, dtype=np.uint8)
    left, right = base[: MB + 100], base[MB + 100:]
    ls, rs = left.copy(), right.copy()
    wl, wr = _core.watch(left), _core.watch(right)
    # starting right protected their shared page again, taking what the
    # page table knew of writes there before: left cannot tell any more
    assert wl.same(ls, left) is None
    assert not wl.live
    assert wr.same(rs, right) is True
    right[0] = 1  # on the shared page
    assert wr.same(rs, right) is False
    right[0] = 0
    wl = _core.watch(left)
    right[0] = 1  # right's byte on left's last page: left's bytes are unchanged
    assert wl.same(ls, left) is True
    assert wl.same(ls, left) is True
    left[-1] = 9
    assert wl.same(ls, left) is False
    right[0] = 0
    left[-1] = 0
    # a stopped watch leaves the pages another holds protected
    wl = _core.watch(left)
    wr = _core.watch(right)
    wl.stop()
    assert wr.same(rs, right) is True
    right[-1] = 9
    assert wr.same(rs, right) is False


def test_shared_and_file_backed_memory_is_refused(supported, tmp_path):
    # another process or the file can change these without a write here
    m = mmap.mmap(-1, 4 * MB, flags=mmap.MAP_SHARED)
    m.write(b"x" * (4 * MB))
    assert _core.watch(np.frombuffer(m, dtype=np.uint8)) is None
    p = tmp_path / "f.bin"
    p.write_bytes(b"\x01" * (4 * MB))
    mm = np.memmap(p, dtype=np.uint8, mode="r+")
    assert _core.watch(mm) is None
    cow = np.memmap(p, dtype=np.uint8, mode="c")  # private, but pages of the file
    assert _core.watch(cow) is None
    del mm, cow


def test_a_forked_child_does_not_watch(supported):
    a = np.zeros(MB, dtype=np.uint8)
    snap = a.copy()
    w = _core.watch(a)
    r, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own copy of the memory, no watch of its own
        try:
            a[3] = 7
            ok = _core.watch(a) is None and w.same(snap, a) is None
            os.write(wfd, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(wfd)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    assert got == b"1"
    assert w.same(snap, a) is True  # the child's write was to its copy
    a[3] = 7
    assert w.same(snap, a) is False
    w.stop()


def test_the_runtime_watches_a_reused_array_and_stops_when_it_changes(supported, local):
    s = local
    a = np.arange(MB, dtype=np.float64)  # 8 MiB
    before = _core.watch_count()

    def total(x):
        return float(x.sum())

    def check(watched):
        assert s.submit(total, (a,), {}).result() == float(a.sum())
        assert _core.watch_count() == before + watched

    check(0)  # a snapshot
    check(1)  # seen again: watched (from before this compare)
    check(1)
    a[7] = 1e6
    check(0)  # changed: a new snapshot, no longer watched (writes to it cost faults)
    check(0)  # changed once while watched: one unchanged compare first
    check(1)
    check(1)
    a[8] = 1e6
    check(0)
    for _ in range(3):  # changed twice while watched: three
        check(0)
    check(1)
    s.close()
    assert _core.watch_count() == before


def test_memory_that_cannot_be_watched_is_compared_without_asking_again(supported, local,
                                                                        tmp_path, monkeypatch):
    s = local
    p = tmp_path / "m.bin"
    p.write_bytes(np.arange(MB, dtype=np.float64).tobytes())
    # a plain ndarray on the file's pages (a memmap itself is pickled in band)
    m = np.asarray(np.memmap(p, dtype=np.float64, mode="r+"))
    asked = []
    real = _core.watch

    def watch(buf):
        asked.append(1)
        return real(buf)

    monkeypatch.setattr(_core, "watch", watch)

    def total(x):
        return float(x.sum())

    for k in range(4):
        m[k] = -k
        assert s.submit(total, (m,), {}).result() == float(m.sum())
        assert s.submit(total, (m,), {}).result() == float(m.sum())
    assert len(asked) == 1  # refused once: not asked again for this array
    del m


def test_threads_watching_side_by_side_agree_with_memcmp(supported):
    # the checks run without the GIL: watches of neighbouring arrays (pages
    # shared at their edges), checked and written from several threads
    base = np.zeros(4 * MB + 5 * 1000, dtype=np.uint8)
    parts = [base[i * (MB + 1000):(i + 1) * (MB + 1000)] for i in range(4)]
    errors = []

    def work(i):
        a = parts[i]
        rng = np.random.default_rng(i)
        snap = a.copy()
        w = _core.watch(a)
        for _ in range(200):
            if rng.random() < 0.5:
                # on a page shared with a neighbour, whose scans take the
                # page's writes from this watch: sometimes the same byte
                k = int(rng.integers(0, 64))
                k = k if rng.random() < 0.5 else a.size - 1 - k
                a[k] = rng.integers(0, 3)
            got = w.same(snap, a)
            truth = bool((a == snap).all())
            if got is None:
                got = truth
            if got != truth:
                errors.append((i, got, truth))
            if not got:
                snap = a.copy()
                w.stop()
                w = _core.watch(a)
        w.stop()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave the threads as much as possible
    try:
        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors


def test_pydron_no_write_watch_turns_it_off(supported):
    import subprocess

    code = ("import numpy as np\nfrom pydron import _core\n"
            "print(_core.watch(np.ones(1 << 20)) is None)\n")
    env = dict(os.environ, PYDRON_NO_WRITE_WATCH="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_direct_io_in_flight_during_checks_is_seen(supported, tmp_path):
    # O_DIRECT reads pin the array's pages (the fault that clears a page's
    # bit) and the data lands later: checks running meanwhile must not hide
    # it once the read is done
    n = 256 * 1024
    path = tmp_path / "d.bin"
    path.write_bytes(b"\0" * n)
    raw = np.zeros(n + 4096, dtype=np.uint8)
    off = (-raw.ctypes.data) % 4096
    a = raw[off:off + n]  # O_DIRECT wants aligned memory
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError as e:
        pytest.skip(f"no O_DIRECT on {tmp_path}: {e}")
    missed = 0
    try:
        for r in range(60):
            with open(path, "r+b") as f:  # new content for this round
                f.write(bytes([r % 250 + 1]) * n)
                f.flush()
                os.fsync(f.fileno())
            snap = a.copy()
            w = _core.watch(a)
            done = threading.Event()

            def check():
                while not done.is_set():
                    w.same(snap, a)

            t = threading.Thread(target=check)
            t.start()
            try:
                assert os.preadv(fd, [memoryview(a)], 0) == n
            finally:
                done.set()
                t.join()
            assert (a != snap).any()
            if w.same(snap, a) is True:
                missed += 1
            w.stop()
    finally:
        os.close(fd)
    assert missed == 0
