"""pydron._core: the C extension over include/pydron.h."""

import gc
import sys
import threading
import time

import pytest

from pydron import _core


def echo_runner(payload, inputs):
    # payload + all inputs concatenated; "fail:..." payloads fail the task
    p = bytes(payload)
    if p.startswith(b"fail:"):
        raise _core.TaskFailed(p[5:].decode(), b"detail-bytes")
    if p.startswith(b"crash"):
        raise ValueError("runner bug")
    if p.startswith(b"sleep"):
        time.sleep(float(p[5:].decode()))
        return b"slept"
    return [p] + [bytes(i) for i in inputs]


@pytest.fixture(params=["inline", "threads"])
def rt(request):
    r = _core.Runtime(request.param, workers=2, runner=echo_runner)
    yield r
    r.close()


def test_version_gate():
    assert _core.version() // 100 == _core.VERSION_NUMBER // 100
    assert _core.VERSION_STRING.count(".") == 2


def test_task_round_trip(rt):
    g = _core.Graph(rt)
    a = g.constant(b"abc")
    b = g.task(rt.python_kind, b"x", (a,))
    c = g.task(rt.python_kind, b"y", [b, a])
    c.wait()
    assert c.bytes() == b"yxabcabc"
    assert bytes(memoryview(c)) == b"yxabcabc"
    assert c.size() == 8
    assert c.state() == _core.READY
    g.close()


def test_large_constant_round_trip(rt):
    g = _core.Graph(rt)
    data = bytes(range(256)) * (8 * 4096)  # 8 MiB: the GIL-free copy path
    v = g.constant(data)
    assert memoryview(v) == memoryview(data)
    t = g.task(rt.python_kind, b"", (v,))
    t.wait()
    assert t.size() == len(data)
    g.close()


def test_task_failure_maps_to_task_error(rt):
    g = _core.Graph(rt)
    v = g.task(rt.python_kind, b"fail:it broke")
    with pytest.raises(_core.TaskError) as ei:
        v.wait()
    msg, detail, task = ei.value.args
    assert "it broke" in msg
    assert detail == b"detail-bytes"
    assert task > 0
    assert isinstance(ei.value, _core.PydronError)
    assert v.state() == _core.FAILED
    assert v.error()[1] == b"detail-bytes"
    g.close()


def test_runner_bug_fails_task_with_repr(rt):
    g = _core.Graph(rt)
    v = g.task(rt.python_kind, b"crash")
    with pytest.raises(_core.TaskError, match="runner bug"):
        v.wait()
    g.close()


def test_errors_map_to_exceptions():
    r = _core.Runtime("inline", runner=echo_runner)
    g = _core.Graph(r)
    with pytest.raises(_core.NotFoundError):
        g.task(987654, b"")
    with pytest.raises(_core.NotFoundError):
        r.kind("no-such-kind")
    with pytest.raises(TypeError):
        g.task(r.python_kind, b"", (1, 2))
    with pytest.raises(ValueError):
        _core.Runtime("no-such-executor")
    g2 = _core.Graph(r)
    foreign = g2.constant(b"x")
    with pytest.raises(_core.PydronError) as ei:
        g.task(r.python_kind, b"", (foreign,)).wait()
    assert ei.value.code < 0
    del foreign
    g2.close()
    g.close()
    with pytest.raises(_core.ClosedError):
        g.constant(b"x")
    r.close()
    with pytest.raises(_core.ClosedError):
        _core.Graph(r)
    assert _core.strerror(-6)


def test_wait_timeout_releases_gil():
    r = _core.Runtime("threads", workers=1, runner=echo_runner)
    g = _core.Graph(r)
    never = g.input()
    count = 0
    stop = False

    def spin():
        nonlocal count
        while not stop:
            count += 1

    t = threading.Thread(target=spin)
    t.start()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        never.wait(0.5)
    waited = time.monotonic() - t0
    stop = True
    t.join()
    assert waited >= 0.45
    # The spinning thread ran while the main thread waited in C.
    assert count > 10000
    g.close()
    r.close()


def test_other_thread_runs_while_task_runs():
    r = _core.Runtime("threads", workers=2, runner=echo_runner)
    g = _core.Graph(r)
    v = g.task(r.python_kind, b"sleep0.3")
    ticks = []
    t = threading.Thread(target=lambda: [ticks.append(1) or time.sleep(0.01) for _ in range(20)])
    t.start()
    v.wait(timeout=30)
    during = len(ticks)  # ticks made while the main thread waited in C
    t.join()
    assert v.bytes() == b"slept"
    assert during >= 3
    g.close()
    r.close()


def test_no_refcount_leak_in_loop(rt):
    g = _core.Graph(rt)
    payload = b"p" * 10
    base_payload = sys.getrefcount(payload)
    base_runner = sys.getrefcount(echo_runner)
    for _ in range(3):
        vs = [g.task(rt.python_kind, payload) for _ in range(500)]
        for v in vs:
            v.wait()
            assert v.bytes() == payload
        del vs, v
    gc.collect()
    assert sys.getrefcount(payload) == base_payload
    assert sys.getrefcount(echo_runner) == base_runner
    st = g.stats()
    assert st["tasks_done"] >= 1500
    assert st["values_live"] <= 1
    g.close()


def test_graph_keeps_runtime_alive():
    r = _core.Runtime("inline", runner=echo_runner)
    g = _core.Graph(r)
    assert g.runtime is r
    del r
    gc.collect()
    v = g.task(g.runtime.python_kind, b"z")
    v.wait()
    assert v.bytes() == b"z"
