"""The hang of issue 10: a task returns a numpy array of 160 KB-1 MiB (below
the shared-memory threshold), then two tasks each take that result plus a
driver array of the same size, while the driver reads earlier results. The
driver's reader wrote the task batch to the worker while the worker's reader
wrote a fetch reply to the driver: neither read, both processes hung for
good, Ctrl-C did nothing. Real processes, one and two workers, and the
threads executor; each run has a deadline instead of hanging the suite."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import pydron

PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from pydron import functional, schedule

    N = int(sys.argv[1])
    ROUNDS = int(sys.argv[2])

    @functional
    def make(n, i):
        return np.arange(n, dtype=np.float64) + i

    @functional
    def combine(a, b):
        return a + b

    @schedule
    def main():
        d = np.ones(N)
        for i in range(ROUNDS):
            x = make(N, i)
            c1 = combine(x, d)
            c2 = combine(x, d * 2)
            print(i, c1.sum(), c2.sum(), flush=True)

    main()
    print("done", flush=True)
""")


def _env(executor, workers):
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYDRON_DISABLE", None)
    env.pop("PYDRON_SHM_MIN", None)
    if executor is None:
        env["PYDRON_DISABLE"] = "1"
    else:
        env["PYDRON_EXECUTOR"] = executor
        env["PYDRON_WORKERS"] = str(workers)
    return env


def _run(tmp_path, executor, workers, n, rounds, timeout=60):
    path = tmp_path / "prog.py"
    path.write_text(SCRIPT)
    try:
        p = subprocess.run([sys.executable, str(path), str(n), str(rounds)],
                           env=_env(executor, workers), capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        pytest.fail(f"hung: no exit after {timeout} s; {len(out.splitlines())} lines printed")
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def _expected(n, rounds):
    base = n * (n - 1) / 2
    lines = [f"{i} {base + n * i + n} {base + n * i + 2 * n}" for i in range(rounds)]
    return "\n".join(lines + ["done"]) + "\n"


@pytest.mark.timeout(200)
@pytest.mark.parametrize("executor,workers", [("local", 1), ("local", 2), ("threads", 2)])
def test_mid_size_results_with_driver_arrays_finish(tmp_path, executor, workers):
    # 120,000 float64 = 960 KB: hung in 5 runs out of 5 before the fix
    out = _run(tmp_path, executor, workers, 120_000, 40)
    assert out == _expected(120_000, 40)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("n", [40_000, 80_000, 131_000])
def test_sizes_from_320_kb_to_the_threshold_finish(tmp_path, n):
    out = _run(tmp_path, "local", 1, n, 25)
    assert out == _expected(n, 25)


@pytest.mark.timeout(120)
def test_oracle_agrees(tmp_path):
    # the expected text is what plain Python prints
    assert _run(tmp_path, None, 0, 20_000, 3) == _expected(20_000, 3)
