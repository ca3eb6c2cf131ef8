"""Large numpy arrays between the driver and local workers by shared memory
(issue 5): no byte copies beyond the snapshot, results writable without a
copy and without changing the stored value. Real worker processes."""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import require_local

MB = 1024 * 1024


def in_memfd(addr: int) -> bool:
    """addr lies in a mapping of one of pydron's memfds (this process)."""
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= addr < hi:
                return "/memfd:pydron" in line
    return False


def addr_of(a) -> int:
    return a.__array_interface__["data"][0]


def probe(a):
    """In the worker: (sum, was the argument mapped from shared memory, pid)."""
    return float(a.sum()), in_memfd(addr_of(a)), os.getpid()


def copy_of(a):
    # a new array: one returned unchanged is a read-only view of the
    # argument and pickle keeps it read-only (as without shared memory)
    return a.copy()


def make(n, seed):
    return np.random.default_rng(seed).random(n)


def total(a):
    return float(a.sum())


def after(delay, a):
    time.sleep(delay)
    return float(a.sum())


def gated(_gate, a):
    return float(a.sum())


def pause(delay):
    time.sleep(delay)
    return delay


def test_64mb_argument_and_result_by_shared_memory(local):
    a = np.random.default_rng(3).random(8 * MB)  # 64 MiB of float64
    # the argument: the workers map the driver's snapshot
    got = [local.submit(probe, (a,), {}).result() for _ in range(4)]
    for s, mapped, _ in got:
        assert s == float(a.sum())
        assert mapped, "the worker received the argument as bytes"
    # a result: equal, and the driver's array is a mapping, not a copy
    back = local.submit(copy_of, (a,), {}).result()
    assert back.nbytes == 64 * MB
    np.testing.assert_array_equal(back, a)
    assert in_memfd(addr_of(back)), "the result was copied into the driver"
    assert back.flags.writeable


def test_32mb_result_passed_on_to_the_other_worker(local):
    f = local.submit(make, (4 * MB, 7), {})  # 32 MiB, made on a worker
    want = float(make(4 * MB, 7).sum())
    # several consumers: some run on the other worker and map it from there
    outs = [local.submit(probe, (f,), {}).result() for _ in range(6)]
    for s, mapped, _ in outs:
        assert s == want and mapped


def test_modifying_a_result_changes_neither_the_value_nor_its_readers(local):
    f = local.submit(make, (4 * MB, 11), {})
    want = float(make(4 * MB, 11).sum())
    # submitted before the driver looks at f, so it reads the graph value;
    # it starts only after the driver has written to its array
    gate = local.submit(pause, (0.5,), {})
    g = local.submit(gated, (gate, f), {})
    a = f.result()
    assert in_memfd(addr_of(a)), "not a mapping of the value"
    assert float(a.sum()) == want
    a[:] = -1.0  # allowed: results belong to the program (copy on write)
    assert float(a.sum()) == -4.0 * MB
    assert g.result() == want, "the driver's writes reached the stored value"
    # the program's own array is the one it changed
    assert float(f.result().sum()) == -4.0 * MB


def test_argument_is_a_snapshot(local):
    a = np.arange(4 * MB, dtype=np.float64)  # 32 MiB
    want = float(a.sum())
    # reads its argument while (after) the driver changes the array
    f = local.submit(after, (0.3, a), {})
    gate = local.submit(pause, (0.3,), {})
    g = local.submit(gated, (gate, a), {})  # starts after the change
    a[:] = 0.0
    assert f.result() == want
    assert g.result() == want


def test_arguments_are_read_only_in_tasks(local):
    def scribble(x):
        x[0] = 1.0
        return 0

    a = np.zeros(2 * MB)
    with pytest.raises(ValueError):
        local.submit(scribble, (a,), {}).result()
    assert a[0] == 0.0


def test_pydron_shm_0_still_works():
    require_local()
    code = textwrap.dedent(
        """
        import numpy as np
        from pydron import _backend
        s = _backend.Session("local", workers=2)
        def copy_of(a):
            return a.copy()
        a = np.random.default_rng(5).random(4 * 1024 * 1024)
        back = s.submit(copy_of, (a,), {}).result()
        assert (back == a).all()
        back[:] = 0  # still writable (a copy)
        with open("/proc/self/maps") as f:
            assert "memfd:pydron" not in f.read()
        s.close()
        print("ok")
        """)
    env = dict(os.environ, PYDRON_SHM="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
