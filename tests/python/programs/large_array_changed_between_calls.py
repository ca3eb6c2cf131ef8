# Large arrays handed to one @schedule function call after call, changed
# between the calls by code pydron does not see (outside @schedule), in every
# way memory can change: numpy in place, a view, the first and last byte, a
# write of the same value, the kernel (readinto), another thread, ctypes, a
# neighbour sharing a page, a file behind a memmap, another process through
# shared memory. The driver keeps one snapshot per array and reuses it while
# the array is unchanged (checked by bytes, or by the pages written since);
# each call must still see the array as of that call, as plain Python does.
import ctypes
import os
import subprocess
import sys
import tempfile
import threading
import zlib
from multiprocessing import shared_memory

import numpy as np

from pydron import functional, schedule

N = 1 << 19  # 4 MiB of float64: above the size whose snapshot is kept


@functional
def digest(a, k):
    return k, memoryview(a).nbytes, zlib.crc32(a)


@schedule
def use(a, k):
    return [digest(a, k), digest(a, k + 1)]


def calls(a, tag, out):
    # three unchanged calls: a snapshot, then a check, then a watched check
    for k in range(3):
        out.append((tag, use(a, 10 * k)))


def main():
    out = []
    a = np.arange(N, dtype=np.float64)
    calls(a, "start", out)

    def changed(tag):
        out.append((tag, use(a, 0)))
        out.append((tag + " again", use(a, 1)))

    a[N // 2] = -1.0
    changed("item")
    a += 1.0
    changed("augmented")
    np.multiply(a, 2.0, out=a)
    changed("out=")
    a[10:][0] = 123.0
    changed("view")
    calls(a, "settled", out)
    a.view(np.uint8)[0] ^= 1
    changed("first byte")
    calls(a, "settled 2", out)
    a.view(np.uint8)[-1] ^= 1
    changed("last byte")
    calls(a, "settled 3", out)
    a[7] = a[7]  # written, same bytes
    changed("same value")
    with tempfile.TemporaryFile() as f:
        f.write(b"\x07" * 100)
        f.seek(0)
        f.readinto(memoryview(a).cast("B")[4096 * 3 + 5:4096 * 3 + 105])  # the kernel writes
    changed("readinto")
    calls(a, "settled 4", out)
    t = threading.Thread(target=lambda: a.__setitem__(N - 3, 9.5))
    t.start()
    t.join()
    changed("thread")
    calls(a, "settled 5", out)
    ctypes.memmove(a.ctypes.data + 8 * 1000, b"\x01" * 16, 16)
    changed("ctypes")

    # two arrays on one buffer, the boundary inside a page: a write near it
    # is a write to a page both hold
    base = np.zeros(2 * N + 3, dtype=np.float64)
    left, right = base[: N + 1], base[N + 1:]
    for k in range(3):
        out.append(("pair", use(left, k), use(right, k)))
    right[0] = 5.0  # on the page left ends in
    out.append(("left after right", use(left, 7)))
    out.append(("right after left", use(right, 7)))
    left[-1] = 6.0
    out.append(("right after left changed", use(right, 8)))
    out.append(("left", use(left, 8)))

    # a file-backed array changed through the file, not the mapping
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.bin")
        mm = np.memmap(path, dtype=np.float64, mode="w+", shape=(N,))
        mm[:] = 1.0
        mm.flush()
        m = np.asarray(mm)  # a plain ndarray on the file's pages (a memmap is pickled in band)
        for k in range(3):
            out.append(("memmap", use(m, k)))
        fd = os.open(path, os.O_WRONLY)
        os.pwrite(fd, np.float64(42.0).tobytes(), 8 * 12345)
        os.close(fd)
        out.append(("memmap after pwrite", use(m, 5)))
        out.append(("memmap after pwrite again", use(m, 6)))
        del m, mm

    # shared memory another process writes
    shm = shared_memory.SharedMemory(create=True, size=8 * N)
    try:
        s = np.ndarray((N,), dtype=np.float64, buffer=shm.buf)
        s[:] = 2.0
        for k in range(3):
            out.append(("shared", use(s, k)))
        code = ("from multiprocessing import shared_memory, resource_tracker\n"
                "import numpy as np, sys\n"
                "m = shared_memory.SharedMemory(name=sys.argv[1])\n"
                "resource_tracker.unregister(m._name, 'shared_memory')\n"
                "np.ndarray((%d,), dtype=np.float64, buffer=m.buf)[999] = -8.0\n"
                "m.close()\n" % N)
        subprocess.run([sys.executable, "-c", code, shm.name], check=True)
        out.append(("shared after child", use(s, 5)))
        del s
    finally:
        shm.close()
        shm.unlink()

    # other large buffers: a bytearray, an array.array, a memoryview
    import array

    for b in (bytearray(b"\x01" * (8 * N)), array.array("d", range(N))):
        view = memoryview(b)
        for k in range(3):
            out.append((type(b).__name__, use(b, k), use(view, k)))
        b[12345] = 9
        out.append((type(b).__name__ + " changed", use(b, 5), use(view, 5)))
        view[-1] = 7
        out.append((type(b).__name__ + " changed by its view", use(b, 6), use(view, 6)))
        del view

    # a new array where the old one was
    for k in range(3):
        a = np.full(N, float(k))
        out.append(("new", use(a, k)))
    return out


if __name__ == "__main__":
    for line in main():
        print(line)
