"""The driver's C fast path for plain @functional calls (pydron._core.call,
fastcall.c) against the Python path it takes over from (PYDRON_FASTCALL=0):
the same programs give the same stdout and stderr, tracebacks included, on
each executor; and the fast path did take (and hand back) the calls the
programs are written for. The programs also run in test_differential
against the plain sequential run."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import pydron
from pydron import _core, _runtime, functional, schedule

HERE = pathlib.Path(__file__).parent
# written for it, and the differential programs of many tiny calls
PROGRAMS = sorted((HERE / "programs").glob("fastcall_*.py")) + [
    HERE / "programs" / f"{name}.py" for name in (
        "batch_tiny_calls_each_its_own", "batch_tiny_logging_and_errors",
        "batch_tiny_members_differ", "batch_tiny_results_of_every_kind",
        "thousands_tiny_tasks")]
PKG_ROOT = str(pathlib.Path(pydron.__file__).resolve().parent.parent)

# Runs a program as __main__ and writes what the fast path took to a file
# (both runs use it, so their tracebacks have the same frames).
RUN = """
import json, runpy, sys
from pydron import _core
try:
    runpy.run_path(sys.argv[1], run_name="__main__")
finally:
    with open(sys.argv[2], "w") as f:
        json.dump(_core.fast_counts(), f)
"""


def _run(prog, executor, fast, tmp_path):
    counts = tmp_path / f"counts-{fast}.json"
    # PYDRON_HINTS=0: a loop of tiny tasks that ran one at a time (by
    # nature, as a try in the loop) gets a SerialWarning with its times on
    # a slow machine; it is about speed, not the program (test_serial_hints)
    env = dict(os.environ, PYDRON_EXECUTOR=executor, PYDRON_WORKERS="2",
               PYDRON_FASTCALL="1" if fast else "0", PYDRON_HINTS="0",
               PYTHONPATH=os.pathsep.join([PKG_ROOT, os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-c", RUN, str(prog), str(counts)], env=env,
                       capture_output=True, text=True, timeout=120, cwd=str(prog.parent))
    return p.stdout, p.stderr, p.returncode, json.loads(counts.read_text())


@pytest.mark.parametrize("executor", ["threads", "local"])
@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_same_output_as_python_path(prog, executor, tmp_path):
    if executor == "local":
        from conftest import require_local
        require_local()
    out, err, rc, counts = _run(prog, executor, True, tmp_path)
    out0, err0, rc0, counts0 = _run(prog, executor, False, tmp_path)
    assert (out, err, rc) == (out0, err0, rc0)
    assert counts0["calls"] == 0  # off: nothing went through C
    # taken in C up to the task (calls: batched in C; rest: handed to
    # Session._submit_ent once its version was known, while the batch size
    # is not; which one depends on how fast tasks run)
    assert counts["calls"] + counts["rest"] > 100, counts
    if prog.stem.startswith("fastcall_"):
        assert counts["appends"] > 100, counts  # lst.append(placeholder) in C
    if "mixed" in prog.stem:
        assert counts["handed_back"] > 100 and counts["rest"] > 0, counts
    if "failures" in prog.stem:
        # the failing call's own line, through the fast path
        assert "out.append(g(i))" in err and "ValueError: bad 1701" in err


@functional
def inc(x):
    return x + 1


@schedule
def loop(n):
    out = []
    for i in range(n):
        out.append(inc(i))
    return out


@functional
def shape(x):
    return x + 1 if x % 3 else [x]  # a list: the worker's C loop hands it back


@schedule
def shapes(n):
    out = []
    for i in range(n):
        out.append(shape(i))
    return out


def test_batches_run_in_c_on_the_worker():
    """The threads executor runs tasks in this process, so the worker's
    counts are here: the plain calls of batches ran in C (batchrun.c), the
    calls returning a list ran there and were handed back to Python."""
    if os.environ.get("PYDRON_FASTCALL") == "0":
        pytest.skip("PYDRON_FASTCALL=0 in this environment")
    pydron.configure(executor="threads", workers=2)
    try:
        before = _core.batch_counts()
        assert shapes(3000) == [i + 1 if i % 3 else [i] for i in range(3000)]
        after = _core.batch_counts()
    finally:
        pydron.configure()
    assert after["ran"] - before["ran"] > 1000, (before, after)
    assert after["handed_back"] - before["handed_back"] > 300, (before, after)


def test_counts_show_the_path_taken():
    pydron.configure(executor="threads", workers=2)
    try:
        before = _core.fast_counts()
        assert loop(3000) == list(range(1, 3001))
        after = _core.fast_counts()
    finally:
        pydron.configure()
    if _runtime.call is not _core.call:
        pytest.skip("PYDRON_FASTCALL=0 in this environment")
    assert after["calls"] + after["rest"] > before["calls"] + before["rest"]
    # (the first call starts the session: the Python path)
    assert after["appends"] - before["appends"] >= 2990


@pytest.mark.parametrize("executor", ["threads", "local"])
def test_window_by_count_and_bytes(monkeypatch, executor):
    """Calls batched by the fast path still pause the driver at the
    look-ahead window's count and byte budget (the C path's own check)."""
    from conftest import require_local, spy_tasks

    if executor == "local":
        require_local()
    pydron.configure(executor=executor, workers=2)
    try:
        # until the batch size is known (learned from the tasks' run times)
        for _ in range(20):
            before = _core.fast_counts()["calls"]
            assert loop(3000) == list(range(1, 3001))
            if _core.fast_counts()["calls"] > before or _runtime.calls.fast_call is not _core.call:
                break
        seen = []
        spy_tasks(monkeypatch, lambda: None, lambda _, fut: seen.append(
            (len(_runtime._pending), sum(f._n for _, f in _runtime._pending))))
        for window, budget in ((40, 1 << 30), (10000, 3000)):
            monkeypatch.setattr(_runtime.state.S, "window", window)
            monkeypatch.setattr(_runtime.state.S, "window_bytes", budget)
            del seen[:]
            before = _core.fast_counts()["calls"]
            assert loop(3000) == list(range(1, 3001))
            if _runtime.calls.fast_call is _core.call:
                assert _core.fast_counts()["calls"] - before > 0  # some batched in C
            assert max(n for n, _ in seen) <= window
            assert max(b for _, b in seen) <= budget
            # (the limit did bind)
            assert max(n for n, _ in seen) > window // 2 or max(b for _, b in seen) > budget // 2
    finally:
        pydron.configure()


@pytest.mark.parametrize("executor", ["threads", "local"])
def test_finished_calls_settle_before_the_window_fills(monkeypatch, executor):
    """The C path settles a finished front of the pending queue within 64
    calls of seeing it, not only once the window is full: the loop's
    oldest placeholders leave while still in the cache. Here the window is
    too large to fill; the loop waits (at call 1,500) until its first call
    has finished, and the queue must then shrink while the loop goes on."""
    import time

    from conftest import require_local, spy_tasks

    if executor == "local":
        require_local()
    pydron.configure(executor=executor, workers=2)
    try:
        for _ in range(20):  # until the batch size is known
            before = _core.fast_counts()["calls"]
            assert loop(3000) == list(range(1, 3001))
            if _core.fast_counts()["calls"] > before or _runtime.calls.fast_call is not _core.call:
                break
        if _runtime.calls.fast_call is not _core.call:
            pytest.skip("PYDRON_FASTCALL=0 in this environment")
        monkeypatch.setattr(_runtime.state.S, "window", 10 ** 7)
        lens = []

        def after(_, fut):
            lens.append(len(_runtime._pending))
            if len(lens) == 1500:  # every call sent so far has finished
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not all(
                        f.done() for _, f in list(_runtime._pending) if f._v is not None):
                    time.sleep(0.002)
        spy_tasks(monkeypatch, lambda: None, after)
        assert loop(3000) == list(range(1, 3001))
    finally:
        pydron.configure()
    # (without it the queue only grows: the window never fills and there is
    # no deferred operation to poll for)
    assert min(lens[1500:1600]) < 1000, lens[1490:1600]


_SCALARS = [0, 1, 255, 256, 65535, 65536, -1, -128, 2**31 - 1, -2**31, 2**31, -2**31 - 1,
            2**40, True, False, None, 0.0, -0.0, 1.5, float("inf"), float("-inf"),
            float("nan"), 1e308, 5e-324]


def _random_args(rnd, n):
    """n argument tuples of 0-4 scalars, some ints past 32 bits."""
    for _ in range(n):
        yield tuple(rnd.choice(_SCALARS + [rnd.randint(-2**33, 2**33), rnd.random() * 1e6])
                    for _ in range(rnd.randint(0, 4)))


def test_scalar_pickles_are_the_pickle_modules():
    """The fast path writes the pickle of (args, {}) for scalar arguments
    and reads scalar results itself: byte for byte and value for value what
    the pickle module does, or it hands the case to the pickle module."""
    import pickle
    import random

    rnd = random.Random(12)
    taken = 0
    for args in _random_args(rnd, 20000):
        k = len(args)
        got = _core.fast_dumps(args)
        if got is None:
            assert k > 3 or any(type(a) is int and not -2**31 <= a < 2**31 for a in args)
        else:
            taken += 1
            assert got == pickle.dumps((args, {}), 5), args
    assert taken > 10000
    for v in _SCALARS + [rnd.randint(-2**40, 2**40) for _ in range(1000)] + [rnd.random() for _ in range(100)]:
        for proto in (2, 3, 4, 5):
            r = _core.fast_loads(pickle.dumps(v, proto))
            if r is None:
                assert type(v) is int and not -2**31 <= v < 2**31
            else:
                assert type(r[0]) is type(v) and repr(r[0]) == repr(v)
    for data in (b"", b".", b"\x80\x05.", b"\x80\x05K.", b"\x80\x05K\x01\x01.",
                 b"\x80\x05\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.", pickle.dumps("a", 5),
                 pickle.dumps((1,), 5), pickle.dumps(1, 1)):
        assert _core.fast_loads(data) is None, data


def _damaged_pickles_read_as_pickle_does(rnd, calls):
    """Each call's pickle with 1-3 bytes changed, deleted or inserted: the
    fast reader takes one only when pickle.loads reads the same from it.
    Returns how many it took."""
    import pickle

    accepted = 0
    for call in calls:
        data = bytearray(pickle.dumps(call, 5))
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randrange(len(data))
            op = rnd.randint(0, 2)
            if op == 0:
                data[at] = rnd.randrange(256)
            elif op == 1:
                del data[at]
            else:
                data.insert(at, rnd.randrange(256))
        got = _core.fast_loads_call(bytes(data))
        if got is not None:
            accepted += 1
            want = pickle.loads(bytes(data))
            assert type(want) is tuple and repr(want) == repr(got), data
    return accepted


def test_worker_scalar_pickles_are_the_pickle_modules():
    """A worker's batch reads (args, {}) of scalar arguments and writes a
    scalar result itself (batchrun.c): what it reads is what pickle.loads
    gives, for the driver's pickles and for damaged ones it accepts, and
    what it writes is pickle.dumps(v, 5), byte for byte."""
    import pickle
    import random

    rnd = random.Random(7)
    taken = 0
    for args in _random_args(rnd, 20000):
        got = _core.fast_loads_call(pickle.dumps((args, {}), 5))
        if got is None:
            assert any(type(a) is int and not -2**31 <= a < 2**31 for a in args)
        else:
            taken += 1
            got, kw = got
            assert kw == {}
            assert [type(a) for a in got] == [type(a) for a in args] and repr(got) == repr(args)
    assert taken > 10000
    for data in (b"", pickle.dumps(((1,), {}), 4), pickle.dumps(([1], {}), 5),
                 pickle.dumps(((1,), {}, 2), 5), pickle.dumps((1,), 5),
                 pickle.dumps(((1,), {1: 2}), 5), pickle.dumps(((1, 2), {}), 5)[:-1]):
        assert _core.fast_loads_call(data) is None, data
    calls = ((tuple(rnd.choice([0, 300, 70000, -5, 1.5, None, True])
                    for _ in range(rnd.randint(0, 3))), {}) for _ in range(100000))
    assert _damaged_pickles_read_as_pickle_does(rnd, calls) > 100
    written = 0
    for v in _SCALARS + [rnd.randint(-2**32, 2**32) for _ in range(2000)] + \
            [rnd.random() * 10 ** rnd.randint(-300, 300) for _ in range(500)] + \
            ["a", b"b", 1j, (1,), [], 2**31, -2**31 - 1]:
        got = _core.fast_dumps_result(v)
        if got is None:
            assert type(v) not in (float, bool, type(None)) and \
                not (type(v) is int and -2**31 <= v < 2**31), v
        else:
            written += 1
            assert got == pickle.dumps(v, 5), v
    assert written > 1000


def test_bind_batch_is_the_loop_it_replaces():
    """_Batch.flush hands each call of a sent batch its graph value and
    batch marker with _core.bind_batch: for Futures (slots in C) and any
    other object (setattr), pairs as zip makes them, errors as setattr's."""
    from pydron import _backend

    assert loop(300) == list(range(1, 301))  # the fast path knows Future now

    class Plain:
        pass

    marker = object()
    futs = [_backend.Future(None, inc) for _ in range(3)] + [Plain()]
    vals = ["v0", "v1", "v2", "v3", "extra"]
    _core.bind_batch(futs, vals, marker)
    assert [f._v for f in futs] == vals[:4]
    assert all(f._b is marker for f in futs)
    _core.bind_batch(futs[:2], ("w0",), None)  # shorter vals: as zip
    assert [f._v for f in futs] == ["w0", "v1", "v2", "v3"]
    assert futs[0]._b is None and futs[1]._b is marker
    with pytest.raises(AttributeError):
        _core.bind_batch([object()], [1], None)
    with pytest.raises(TypeError):
        _core.bind_batch(futs, 5, None)


class _Node:
    pass


def test_pending_entry_reads_as_a_pair_and_tracks_its_object_again():
    """The fast path's pending-queue entry: read as the (seq, future) tuple
    the Python path appends; its object is untracked by the garbage collector
    while queued and tracked again when the entry goes, so a cycle through it
    is collected as before."""
    import gc
    import weakref

    n = _Node()
    n.me = n  # a cycle through the object
    e = _core._pending_entry(7, n)
    assert not gc.is_tracked(n)
    assert e[0] == 7 and e[1] is n and len(e) == 2
    seq, obj = e
    assert (seq, obj) == (7, n) and repr(e).startswith("(7, <")
    with pytest.raises(IndexError):
        e[2]
    del e, obj
    assert gc.is_tracked(n)  # something else still holds it
    r = weakref.ref(n)
    del n
    gc.collect()
    assert r() is None  # the cycle was found
    e = _core._pending_entry(8, _Node())  # the entry holds the last reference
    r = weakref.ref(e[1])
    del e
    assert r() is None


def _random_calls(rnd, n, ph_type=None):
    """n (args, kwargs) of scalars, str and bytes (some the same object
    again, some long, non-ASCII or a lone surrogate), and instances of
    ph_type; 0-18 arguments, 0-4 keywords."""
    texts = ["", "a", "ab", "mode", "é€😀", "x" * 255, "y" * 256, "\ud800", b"", b"\x00b",
             b"z" * 300]
    def item():
        c = rnd.random()
        if c < 0.45:
            return rnd.choice(_SCALARS + [rnd.randint(-2**33, 2**33), rnd.random()])
        if c < 0.6:
            return rnd.choice(texts)  # the same object again
        if c < 0.75:
            return "".join(rnd.choice("abcé") for _ in range(rnd.randint(0, 5)))
        if c < 0.85 and ph_type is not None:
            return rnd.choice(ph_type)
        return rnd.choice([1.5, 2, None, True])
    for _ in range(n):
        na = rnd.choice([0, 1, 2, 3, 3, 4, 5, 8, 16, 17])
        nk = rnd.choice([0, 0, 1, 2, 4])
        keys = rnd.sample(["k", "mode", "a", "ab", "x", "é"], nk)
        yield tuple(item() for _ in range(na)), {k: item() for k in keys}


def test_call_pickles_are_the_pickle_modules():
    """Calls with str, bytes and keyword arguments, more than three
    arguments, placeholders: the fast path writes (args, kwargs) byte for
    byte as the pickle module does (persistent ids as
    Session._dumps_with_futures writes them), the worker reads back what
    pickle.loads gives, and a damaged pickle is read only when it means the
    same to pickle.loads."""
    import io
    import pickle
    import random

    class Ph:
        def __init__(self, v):
            self.v = v

        def __repr__(self):
            return f"Ph({self.v!r})"

    rnd = random.Random(11)
    phs = [Ph(i) for i in range(4)]
    written = read = 0
    for args, kw in _random_calls(rnd, 20000, phs):
        # Session._dumps_with_futures: each placeholder's index, once each
        futs, index = [], {}

        def pid(o):
            if type(o) is Ph:
                if id(o) not in index:
                    index[id(o)] = len(futs)
                    futs.append(o)
                return index[id(o)]
            return None

        f = io.BytesIO()
        p = pickle.Pickler(f, 5)
        p.persistent_id = pid
        p.dump((args, kw))
        want = f.getvalue()
        got = _core.fast_dumps_call(args, kw or None, Ph)
        if got is None:  # left to the pickle module: only for these
            assert len(args) > 16 or any(
                (type(a) is int and not -2**31 <= a < 2**31) or
                (type(a) in (str, bytes) and len(a.encode("utf-8", "surrogatepass")
                                              if type(a) is str else a) > 255) or
                (type(a) is str and any(0xD800 <= ord(c) < 0xE000 for c in a))
                for a in args + tuple(kw.values())), (args, kw)
        else:
            written += 1
            assert got[0] == want, (args, kw)
            assert got[1] == futs

        class Up(pickle.Unpickler):
            def persistent_load(self, k):
                return futs[k]

        back = _core.fast_loads_call(want, tuple(futs))
        if back is not None:
            read += 1
            assert repr(back) == repr(Up(io.BytesIO(want)).load()), (args, kw)
    assert written > 8000 and read > 8000, (written, read)
    assert _damaged_pickles_read_as_pickle_does(rnd, _random_calls(rnd, 30000)) > 100


@functional
def _leaf(i):
    return i


@functional
def _pair(a, b):
    return a * 100000 + b


@schedule
def _pairs_of_results(n):
    xs = []
    for i in range(n):
        xs.append(_leaf(i))
    out = []
    for i in range(n):
        out.append(_pair(xs[i], xs[n - 1 - i]))
    return out


_this = sys.modules[__name__]


@schedule
def _through_module(n):
    out = []
    for i in range(n):
        out.append(_this._leaf(i))
    return out


@functional
def _scaled(x, k=1, label=None):
    return x * k


@schedule
def _by_keyword(n):
    out = []
    for i in range(n):
        out.append(_scaled(i, k=3, label="a"))
    return out


@functional
def _first(a, i):
    return float(a[0]) + i


@schedule
def _with_small_array(n):
    import numpy as np

    a = np.arange(100.0)
    out = []
    for i in range(n):
        out.append(_first(a, i))
    return out


@schedule
def _pipeline_per_item(n):
    out = []
    for i in range(n):
        a = _leaf(i)
        out.append(_pair(a, i))  # a is still in _leaf's batch being filled
    return out


# Shapes of calls the fast path batches in C, as it does f(i): (program, n,
# its result, calls in C per unit of n). Through the Python path they cost
# 1.5-4x more per call.
_SHAPES = {
    # placeholders of earlier calls as arguments: the leaves, and the pairs
    # but for the first few (their leaves are still in the batch being
    # filled: the Python path sends it)
    "placeholders": (_pairs_of_results, 2000,
                     lambda n: [i * 100000 + n - 1 - i for i in range(n)], 1.8),
    # mylib.f(x) for a @functional f of module mylib (calls.mcall on a module)
    "through_a_module": (_through_module, 3000, lambda n: list(range(n)), 0.9),
    # f(x, k=3, label="a"): plain keyword values
    "keywords": (_by_keyword, 3000, lambda n: [3 * i for i in range(n)], 0.9),
    # a pipeline per item: one batch per function is filled, each call's
    # placeholder input taken when its batch is sent (it had 1 call per
    # batch: 12 us per call instead of 2)
    "pipeline_per_item": (_pipeline_per_item, 2000,
                          lambda n: [i * 100000 + i for i in range(n)], 1.8),
    # a small numpy array (pickled inside the call, as the Python path does
    # under OOB_MIN)
    "numpy_array": (_with_small_array, 3000, lambda n: [float(i) for i in range(n)], 0.9),
}


@pytest.mark.parametrize("executor", ["inline", "threads"])
@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_calls_of_every_shape_take_the_fast_path(shape, executor):
    """Each shape of call is batched in C on the driver; on the worker (in
    this process), whose calls' arguments are scalars, placeholders of
    scalar results, short str or keywords, it runs in the C batch loop."""
    if _runtime.calls.fast_call is not _core.call:
        pytest.skip("the fast path is off (PYDRON_FASTCALL=0)")
    prog, n, want, per = _SHAPES[shape]
    pydron.configure(executor=executor, workers=2)
    try:
        for _ in range(20):  # until the batch sizes are known
            c0, b0 = _core.fast_counts(), _core.batch_counts()
            assert prog(n) == want(n)
            c = {k: v - c0[k] for k, v in _core.fast_counts().items()}
            b = {k: v - b0[k] for k, v in _core.batch_counts().items()}
            if c["calls"] > per * n and b["ran"] > per * n:
                break
        assert c["calls"] > per * n, c
        assert b["ran"] > per * n, b
    finally:
        pydron.configure()


def test_pid_filter_asks_only_about_placeholders_and_classes():
    """_core.pid_filter (the persistent_id of the argument picklers): the
    Python function is asked about objects of the given type and classes
    (metaclass instances too), never about anything else, and what it says
    is the pickle's; a pickle made with it equals one made with the function
    itself."""
    import io
    import pickle

    class Place:
        pass

    class Meta(type):
        pass

    class Odd(metaclass=Meta):
        pass

    asked = []

    def pid(obj):
        asked.append(obj)
        if type(obj) is Place:
            return ("p", 0)
        if obj is Odd:
            return ("c", "Odd")  # (a local class: by its id, as class versions are)
        return None

    f = _core.pid_filter(pid, Place)
    p = Place()
    for v in (1, 2.5, "s", b"b", None, [1], {"k": (1,)}, object(), Place.__new__):
        assert f(v) is None
    assert asked == []
    assert f(p) == ("p", 0) and f(int) is None and f(Odd) == ("c", "Odd")
    assert asked == [p, int, Odd]

    def dump(persistent_id):
        b = io.BytesIO()
        pk = pickle.Pickler(b, 5)
        pk.persistent_id = persistent_id
        pk.dump(((p, [1, 2.0, "x"], Odd, {"a": p}), {"k": int}))
        return b.getvalue()

    assert dump(_core.pid_filter(pid, Place)) == dump(pid)
    for bad in ((pid,), (1, Place), (pid, 1), (pid, Place, 3)):
        with pytest.raises(TypeError):
            _core.pid_filter(*bad)
