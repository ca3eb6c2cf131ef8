"""A loop whose tasks ran one at a time gets a SerialWarning naming the line
that made it (_runtime/hints.py); a loop that makes its output names with
os.path or pathlib (calls._h_path) or logs with logging (logcalls.py) does
not wait for its tasks at each one.

Parallelism is checked with the submission spy and gates, never with
timings; the hint's own rule looks at how long the driver waited, which
only grows on a loaded machine (each task sleeps)."""

import io
import logging
import os
import pathlib
import time
import warnings

import pytest

import pydron
from gates import SubmitLog, wait_gate
from conftest import require_local
from pydron import functional, schedule
from pydron._runtime import hints


@functional
def slow(i):
    time.sleep(0.08)
    return i * 2


@functional
def gated(i, gate=None):
    wait_gate(gate)
    return i * 10


def keep(x):   # code of the program pydron does not know: a barrier
    return x


@schedule
def waits_at_unknown_code(n):
    out = []
    for i in range(n):
        v = slow(i)
        out.append(keep(v))
    return out


@schedule
def waits_at_a_test(n):
    big = 0
    for i in range(n):
        if slow(i) > 4:
            big += 1
    return big


@schedule
def parallel_loop(n):
    out = []
    for i in range(n):
        out.append(slow(i))
    return [keep(v) for v in out]


@pytest.fixture
def local2(monkeypatch):
    require_local()
    pydron.configure(executor="local", workers=2)
    hints._warned.clear()
    monkeypatch.setattr(hints, "MIN_SECONDS", 0.2)   # 5 tasks of 0.08 s
    yield
    pydron.configure()


def _serial(record):
    return [w for w in record if issubclass(w.category, pydron.SerialWarning)]


def _line_of(fn, text):
    lines, first = __import__("inspect").getsourcelines(fn)
    return first + next(i for i, ln in enumerate(lines) if text in ln)


def test_a_loop_waiting_at_unknown_code_names_its_line(local2):
    with pytest.warns(pydron.SerialWarning) as record:
        assert waits_at_unknown_code(5) == [0, 2, 4, 6, 8]
    (w,) = _serial(record)
    assert w.filename == __file__
    assert w.lineno == _line_of(waits_at_unknown_code, "out.append(keep(v))")
    msg = str(w.message)
    assert "5 times" in msg and "out.append(keep(v))" in msg
    assert "keep` is not @functional" in msg
    # once per line per process
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        waits_at_unknown_code(5)
    assert not _serial(again)


@schedule
def waits_then_fails(n):
    out = waits_at_unknown_code(n)
    return out[n]   # IndexError


def test_no_hint_over_an_exception(local2):
    # a warnings filter "error" would replace the program's own exception
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(IndexError):
            waits_then_fails(5)
    with pytest.warns(pydron.SerialWarning):   # the line was not marked as warned
        waits_at_unknown_code(5)


def test_a_test_of_each_result_is_named_too(local2):
    with pytest.warns(pydron.SerialWarning) as record:
        assert waits_at_a_test(5) == 2
    (w,) = _serial(record)
    assert "needs the result of a task called just before it" in str(w.message)


def test_a_parallel_loop_gets_no_hint(local2):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert parallel_loop(6) == [0, 2, 4, 6, 8, 10]
    assert not _serial(record)


def test_no_hint_when_switched_off_or_on_one_worker(local2, monkeypatch):
    monkeypatch.setattr(hints, "ON", False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        waits_at_unknown_code(5)
    assert not _serial(record)
    monkeypatch.setattr(hints, "ON", True)
    pydron.configure(executor="inline")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        waits_at_unknown_code(5)
    assert not _serial(record)


# ---------------------------------------------------------------- paths

@schedule
def named_by_os_path(n, gate, out):
    res = {}
    for i in range(n):
        v = gated(i, gate)
        name = os.path.join(out, f"img{i}.fits")
        stem, ext = os.path.splitext(os.path.basename(name))
        res[os.path.join(os.path.dirname(name), stem + "_cal" + ext)] = v
    return res


@schedule
def named_by_pathlib(n, gate, out):
    base = pathlib.Path(out)
    res = {}
    for i in range(n):
        v = gated(i, gate)
        p = base / f"img{i}.fits"
        res[p.with_suffix(".npy").name + str(p.parent) + p.stem] = v
    return res


class Fs(os.PathLike):
    def __init__(self, p):
        self.p = p

    def __fspath__(self):
        return self.p


@schedule
def named_by_program_pathlike(n, gate, out):
    res = {}
    for i in range(n):
        v = gated(i, gate)
        res[os.path.join(Fs(out), f"img{i}")] = v
    return res


@pytest.mark.parametrize("fn", [named_by_os_path, named_by_pathlib])
def test_names_made_with_paths_do_not_wait_for_the_tasks(executor, monkeypatch, tmp_path, fn):
    (tmp_path / "open").touch()
    want = fn(3, str(tmp_path / "open"), "/out")   # (result categories learned)
    log = SubmitLog(monkeypatch)
    log.open_gate(gated, 3, tmp_path / "go")
    assert fn(3, str(tmp_path / "go"), "/out") == want
    assert log.done_at_submit == [0, 0, 0]


def test_a_pathlike_of_the_program_still_waits(executor, monkeypatch, tmp_path):
    (tmp_path / "open").touch()
    log = SubmitLog(monkeypatch)
    assert named_by_program_pathlike(3, str(tmp_path / "open"), "/out") == {
        "/out/img0": 0, "/out/img1": 10, "/out/img2": 20}
    assert log.done_at_submit == [0, 1, 2]   # its __fspath__ is code of the program


# ---------------------------------------------------------------- logging

@schedule
def logged(n, gate, name):
    log = logging.getLogger(name)
    out = []
    for i in range(n):
        v = gated(i, gate)
        log.info("calibrated %d: %s", i, v)
        log.debug("below the level %d", i)
        out.append(v)
    return out


@pytest.fixture
def stream_logger():
    name = "pydron-test-log"
    lg = logging.getLogger(name)
    buf = io.StringIO()
    h = logging.StreamHandler(buf)
    h.setFormatter(logging.Formatter("%(funcName)s:%(lineno)d %(message)s"))
    lg.addHandler(h)
    lg.setLevel(logging.INFO)
    lg.propagate = False
    yield name, lg, buf
    lg.removeHandler(h)


def _only(lg, *handlers):
    """pytest's log capture adds its handlers to the logger during the test
    (handlers of another program: no deferral); the test's own only."""
    lg.handlers[:] = [h for h in lg.handlers if h in handlers]


def test_log_calls_do_not_wait_for_the_tasks(executor, monkeypatch, tmp_path, stream_logger):
    name, lg, buf = stream_logger
    _only(lg, *lg.handlers[:1])
    (tmp_path / "open").touch()
    assert logged(3, str(tmp_path / "open"), name) == [0, 10, 20]
    line = _line_of(logged, 'log.info("calibrated')
    want = "".join(f"logged:{line} calibrated {i}: {i * 10}\n" for i in range(3))
    assert buf.getvalue() == want   # the program's function and line
    log = SubmitLog(monkeypatch)
    log.open_gate(gated, 3, tmp_path / "go")
    assert logged(3, str(tmp_path / "go"), name) == [0, 10, 20]
    assert log.done_at_submit == [0, 0, 0]
    assert buf.getvalue() == want * 2


class Keep(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen = []

    def emit(self, record):
        self.seen.append(record.getMessage())


def test_a_handler_of_the_program_still_waits(executor, monkeypatch, tmp_path, stream_logger):
    name, lg, _ = stream_logger
    _only(lg, *lg.handlers[:1])
    keep = Keep()
    lg.addHandler(keep)
    try:
        (tmp_path / "open").touch()
        log = SubmitLog(monkeypatch)
        assert logged(3, str(tmp_path / "open"), name) == [0, 10, 20]
        assert log.done_at_submit == [0, 1, 2]   # its emit is code of the program
        assert keep.seen == ["calibrated 0: 0", "calibrated 1: 10", "calibrated 2: 20"]
    finally:
        lg.removeHandler(keep)
