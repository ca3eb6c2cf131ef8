"""Local workers limit the thread pools of numerical libraries (OpenMP,
OpenBLAS, MKL, BLIS, Accelerate, numexpr) to cores / workers, as joblib's
loky and Ray do: otherwise numpy's OpenBLAS starts a thread per core in every
worker process (oversubscribed, and its idle threads spin beside the next
task). A variable the user set is passed on unchanged.

Each case is a fresh driver process with its own environment and real local
worker processes; the workers report what they were given."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

VARS = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"]

DRIVER = textwrap.dedent("""
    import json, os
    from pydron import functional, schedule

    @functional
    def env_of_worker(names):
        return os.getpid(), {{n: os.environ.get(n) for n in names}}

    @schedule
    def main(names):
        return [env_of_worker(names) for _ in range(8)]

    out = main({names!r})
    print(json.dumps({{"driver": os.getpid(), "workers": out}}))
""")


def run(tmp_path, workers, **env_extra):
    script = tmp_path / "prog.py"
    script.write_text(DRIVER.format(names=VARS))
    env = {k: v for k, v in os.environ.items() if k not in VARS}
    env.update(PYDRON_EXECUTOR="local", PYDRON_WORKERS=str(workers), **env_extra)
    p = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    pids = {pid for pid, _ in res["workers"]}
    assert res["driver"] not in pids, "the tasks ran on worker processes"
    return [e for _, e in res["workers"]]


def cores():
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize("workers", [1, 2])
def test_local_workers_get_cores_per_worker_library_threads(tmp_path, workers):
    want = str(max(1, cores() // workers))
    for env in run(tmp_path, workers):
        assert env == {v: want for v in VARS}, env


def test_a_limit_the_user_set_is_kept(tmp_path):
    want = str(max(1, cores() // 2))
    for env in run(tmp_path, 2, OMP_NUM_THREADS="3", MKL_NUM_THREADS="7"):
        assert env["OMP_NUM_THREADS"] == "3" and env["MKL_NUM_THREADS"] == "7", env
        assert env["OPENBLAS_NUM_THREADS"] == want, env


FILTER_DRIVER = textwrap.dedent("""
    import json, sys, warnings
    from pydron import functional, schedule
    import warnmod  # after pydron: the filter below is the program's own

    warnings.filterwarnings("error", category=warnmod.ModWarning)

    @functional
    def loaded():
        return "warnmod" in sys.modules

    @functional
    def loaded_after(_):
        return "warnmod" in sys.modules

    @functional
    def warn_it():
        import warnmod
        try:
            warnings.warn("from the task", warnmod.ModWarning)
        except warnmod.ModWarning as e:
            return "raised: " + str(e)
        return "not raised"

    @schedule
    def main():
        first = loaded()
        w = warn_it()
        return [first, w, loaded_after(w)]

    print(json.dumps(main()))
""")


def test_filters_naming_a_module_do_not_import_it_in_workers(tmp_path):
    """A warnings filter of the program names a class of a module the tasks
    never imported: workers read the filter without importing the module
    (numpy imported after pydron did this to every worker), and the filter
    still applies once a task imports it."""
    (tmp_path / "warnmod.py").write_text("class ModWarning(UserWarning):\n    pass\n")
    script = tmp_path / "prog.py"
    script.write_text(FILTER_DRIVER)
    env = dict(os.environ, PYDRON_EXECUTOR="local", PYDRON_WORKERS="1",
               PYTHONPATH=str(tmp_path))
    p = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    first, warned, after = json.loads(p.stdout.strip().splitlines()[-1])
    assert first is False, "the worker imported the module to read the filter"
    assert warned == "raised: from the task"
    assert after is True
