"""pydron._backend: Session.submit / Future on inline, threads and local."""

import threading
import traceback

import numpy as np
import pytest
from gates import wait_file

from pydron import _backend, _core, _serialize


def add(a, b=0):
    return a + b


def total(xs):
    return sum(xs)


def walk(obj):
    """Sum numbers in nested lists/tuples/dicts."""
    if isinstance(obj, dict):
        return sum(walk(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(walk(v) for v in obj)
    return obj


def calibrate(raw, bias=None):
    return raw


class Oops(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code


def fails(code):
    raise Oops(f"bad thing {code}", code)


def fails_key(d):
    return d["missing"]


class Unpicklable(Exception):
    def __init__(self, msg):
        super().__init__(msg)
        self.lock = threading.Lock()


def fails_unpicklable():
    raise Unpicklable("cannot travel")


def double(a):
    return a * 2


def same(a):
    return a


def stats(a):
    return float(a.sum()), a.shape, a.dtype.str


def test_submit_result(session):
    f = session.submit(add, (1, 2), {})
    assert f.result() == 3
    assert f.done()
    assert session.submit(add, (1,), {"b": 5}).result() == 6


def test_many_tasks_and_chains(session):
    fs = [session.submit(add, (i, 1), {}) for i in range(200)]
    g = session.submit(total, (fs,), {})
    assert g.result() == sum(range(1, 201))


def test_futures_nested_in_containers(session):
    a = session.submit(add, (1, 2), {})
    b = session.submit(add, (10, 20), {})
    f = session.submit(walk, (([a, (b, a)], {"x": {"y": b}}),), {})
    assert f.result() == 3 + 30 + 3 + 30
    assert session.submit(walk, ([a, (b, a), {"x": {"y": b}}],), {}).result() == 3 + 30 + 3 + 30


def test_snapshot_semantics(session):
    data = [1, 2, 3]
    arr = np.arange(200_000, dtype=np.float64)  # out-of-band buffer
    f = session.submit(total, (data,), {})
    g = session.submit(stats, (arr,), {})
    data.append(1000)
    arr[:] = -1
    assert f.result() == 6
    assert g.result()[0] == float(np.arange(200_000).sum())


def test_unpicklable_argument_names_function_and_argument(session):
    lock = threading.Lock()
    with pytest.raises(TypeError) as ei:
        session.submit(calibrate, (lock,), {})
    msg = str(ei.value)
    assert "calibrate()" in msg and "'raw'" in msg and "position 0" in msg
    with pytest.raises(TypeError, match=r"calibrate\(\): argument 'bias'"):
        session.submit(calibrate, (1,), {"bias": lock})
    assert session.stats()["tasks_added"] == 0


def test_a_generator_argument_is_read_at_the_call_and_an_endless_one_fails(session, monkeypatch):
    import itertools

    g = (i * i for i in range(5))
    assert session.submit(total, (g,), {}).result() == 30
    assert list(g) == []  # read at the call, as the task would have read it
    monkeypatch.setattr(_serialize, "GEN_MAX", 100)
    endless = (i for i in itertools.count())
    with pytest.raises(TypeError, match="given to a task is read whole.*more than 100 items"):
        session.submit(total, (endless,), {})
    assert next(endless) == 101  # the driver read GEN_MAX + 1 items, no more
    # a lock in an argument after a generator still names the argument
    with pytest.raises(TypeError, match=r"calibrate\(\): argument 'bias'"):
        session.submit(calibrate, ((i for i in range(3)),), {"bias": threading.Lock()})


def test_lambda_and_closure(session):
    k = 7
    f = session.submit(lambda x: x + k, (1,), {})
    assert f.result() == 8


def test_exception_keeps_type_message_attributes(session):
    f = session.submit(fails, (42,), {})
    with pytest.raises(Oops) as ei:
        f.result()
    e = ei.value
    assert str(e) == "bad thing 42" and e.code == 42
    # the traceback ends with the task's frame, as if it had run here
    last = traceback.extract_tb(e.__traceback__)[-1]
    assert (last.name, last.filename, last.line) == ("fails", __file__, 'raise Oops(f"bad thing {code}", code)')
    assert e.__cause__ is None
    with pytest.raises(Oops) as ei2:
        f.result()
    assert ei2.value is not e  # a fresh copy each time
    assert isinstance(f.exception(), Oops)
    with pytest.raises(KeyError):
        session.submit(fails_key, ({},), {}).result()


def test_unpicklable_exception_degrades(session):
    f = session.submit(fails_unpicklable, (), {})
    with pytest.raises(_core.PydronError) as ei:
        f.result()
    assert "cannot travel" in str(ei.value)
    assert isinstance(ei.value, RuntimeError)


def test_failure_propagates_to_dependents(session):
    f = session.submit(fails, (1,), {})
    g = session.submit(add, (f, 1), {})
    with pytest.raises(Exception):
        g.result()
    session.wait_all([f, g])  # never raises


@pytest.mark.parametrize("dtype", ["f8", "i4", "u1", "c16"])
def test_numpy_round_trip(session, dtype):
    small = (np.arange(12) % 7).astype(dtype).reshape(3, 4)
    big = (np.arange(300_000) % 251).astype(dtype).reshape(600, 500)
    for a in (small, big):
        r = session.submit(double, (a,), {}).result()
        np.testing.assert_array_equal(r, a * 2)
        assert r.dtype == a.dtype and r.shape == a.shape
        r += 1  # results are writable in the driver
    chained = session.submit(double, (session.submit(same, (big,), {}),), {}).result()
    np.testing.assert_array_equal(chained, big * 2)


def test_64mb_array(session):
    a = np.random.default_rng(1).random(8 * 1024 * 1024)  # 64 MiB of float64
    f = session.submit(same, (a,), {})
    s = session.submit(stats, (f,), {})
    back = f.result()
    assert back.nbytes == 64 * 1024 * 1024
    np.testing.assert_array_equal(back, a)
    assert s.result()[0] == pytest.approx(float(a.sum()))


def test_result_timeout(session, tmp_path):
    import time

    gate = str(tmp_path / "go")
    if session.executor == "inline":
        open(gate, "w").close()  # the task may run in this thread: nothing to wait for
    # the task runs until the test opens the gate (after the timeout was seen)
    f = session.submit(wait_file, (gate, time.time() + 60), {})
    try:
        if session.executor != "inline":
            with pytest.raises(TimeoutError):
                f.result(timeout=0.05)
    finally:
        open(gate, "w").close()
    assert f.result(timeout=60) is None


def test_session_singleton_and_configure(monkeypatch):
    from pydron import config

    monkeypatch.setenv("PYDRON_EXECUTOR", "inline")
    config.reset()
    _backend.shutdown()
    s = _backend.session()
    assert s is _backend.session() and s.executor == "inline"
    assert s.submit(add, (2, 3), {}).result() == 5
    config.configure(executor="threads", workers=2)
    assert _backend.current() is None
    s2 = _backend.session()
    assert s2.executor == "threads"
    with pytest.raises(ValueError):
        config.configure(executor="nope")
    config.reset()
    _backend.shutdown()


def test_decoding_a_large_result_copies_its_buffer_at_most_once():
    # a result with an out-of-band array, decoded for the driver (writable):
    # without a private mapping the array is copied once; the unpickler
    # must be given the pickle alone, not the pickle and the buffers (a
    # second copy of the whole array, as BytesIO copies what it is given)
    import tracemalloc

    n = 16 * 1024 * 1024
    a = np.arange(n // 8, dtype=np.float64)
    parts = _serialize.encode_result(a)
    assert isinstance(parts, list), "the array should go out of band"
    blob = b"".join(bytes(p) for p in parts)
    tracemalloc.start()
    try:
        got = _serialize.decode_result(blob, writable=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(got, a) and got.flags.writeable
    assert peak < 1.5 * n, f"{peak / n:.2f} copies of the array while decoding"


def test_member_of_its_own_batch_unless_the_call_cannot_join(session, monkeypatch):
    """A placeholder of the batch a call would join is named as an earlier
    member; when the call cannot join after all (a large buffer makes it a
    task of its own, or taking another input's value sent that batch), the
    batch goes first and the call takes the value as an input."""
    monkeypatch.setattr(_backend.Session, "_batch_size", lambda self, fn, key: 64)
    big = np.arange(100_000, dtype=np.float64)  # out of band: a task of its own
    a = session.submit(add, (1, 2), {})
    x = session.submit(add, (a, big[0]), {})
    assert x._b is a._b  # joined, a named as member 0
    y = session.submit(walk, ([a, float(big.sum())],), {})
    z = session.submit(stats_plus, (big, a), {})
    assert a._v is not None  # a's batch was sent for z, which has a buffer
    b = session.submit(double, (x,), {})  # double's batch waits for add's
    c = session.submit(add, (b, x), {})  # b's value sends double's batch, add's first
    assert x._v is not None
    assert [f.result() for f in (a, x, y, b, c)] == [3, 3.0, 3 + big.sum(), 6.0, 9.0]
    assert z.result() == big.sum() + 3
    a2 = session.submit(add, (5, 0), {})
    b2 = session.submit(double, (a2,), {})  # double's batch waits for add's
    c2 = session.submit(add, (b2, a2), {})  # b2's value sends both: a2 is a value then
    assert a2._v is not None and c2._b is not a2._b
    assert _serialize.BATCH_M.unpack(c2._b.heads[-1])[0] == 0
    assert [f.result() for f in (a2, b2, c2)] == [5, 10, 15]


def stats_plus(arr, k):
    return float(arr.sum()) + k


def test_batches_wait_for_the_batches_that_hold_their_placeholders(session, monkeypatch):
    """One batch is filled per function: a call given a placeholder still in
    another function's batch keeps it (its value is taken when its own
    batch is sent, that batch first), unless that batch waits for the one
    the call joins (no two batches wait for each other), a call given a
    placeholder of its own batch joins it and names that call as an earlier
    member (f(f(i))), and a placeholder of another session is refused at the
    call."""
    monkeypatch.setattr(_backend.Session, "_batch_size", lambda self, fn, key: 64)
    a = session.submit(add, (1, 2), {})
    assert type(a._b) is _backend._Batch and a._v is None
    b = session.submit(double, (a,), {})  # a stays a placeholder in double's batch
    assert b._b is not a._b and a._v is None
    assert b._b.waits == (a._b,) and a in b._b.inputs
    c = session.submit(add, (b, 1), {})  # double's batch waits for add's: sent now
    assert b._v is not None and a._v is not None
    d = session.submit(same, (c,), {})
    e = session.submit(same, (d,), {})  # its own batch's placeholder: an earlier member
    assert d._v is None and e._b is d._b
    assert _serialize.BATCH_M.unpack(e._b.heads[-1])[0] == _serialize.M_LOCAL
    assert [f.result() for f in (a, b, c, d, e)] == [3, 6, 7, 7, 7]
    other = _backend.Session("inline")
    try:
        f = other.submit(add, (5,), {})
        assert type(f._b) is _backend._Batch
        with pytest.raises(_core.StateError, match="another pydron session"):
            session.submit(double, (f,), {})
        assert f.result() == 5
    finally:
        other.close()


def test_the_reused_argument_pickler_gives_fresh_pickles(session):
    """Session._plain_dump reuses one pickler: each dump is what a new
    pickle.Pickler gives (memo cleared: an object met in the dump before is
    written again, not as a memo reference), after a dump that raised too,
    and a dump inside a dump (code the pickling runs) gets its own."""
    import io
    import pickle

    def fresh(obj, pid):
        f = io.BytesIO()
        p = pickle.Pickler(f, 5)
        p.persistent_id = pid
        p.dump(obj)
        return f.getvalue()

    def none(obj):
        return None

    shared = ["a long enough string", 2.5]
    first = session._plain_dump((shared, shared), none, lambda pb: True)
    assert first == fresh((shared, shared), none)
    assert session._plain_dump((shared, 1), none, lambda pb: True) == fresh((shared, 1), none)

    class Boom:
        def __reduce__(self):
            raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        session._plain_dump(([1, 2, 3] * 50, Boom()), none, lambda pb: True)
    assert session._plain_dump((shared,), none, lambda pb: True) == fresh((shared,), none)

    inner = []

    class Nested:
        def __reduce__(self):
            inner.append(session._plain_dump((shared, "in"), none, lambda pb: True))
            return (str, ("n",))

    out = session._plain_dump((shared, Nested(), shared), none, lambda pb: True)
    assert inner == [fresh((shared, "in"), none)]
    assert pickle.loads(out) == (shared, "n", shared)
    assert session._plain_dump((shared,), none, lambda pb: True) == fresh((shared,), none)
