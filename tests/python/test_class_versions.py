"""Class versions: an argument's class that pickles by value (defined in the
script, or inside a function) is pickled once per version and named by its
key in each call's pickle; the worker loads a version once, and again when
something else set that class's state since. Each call still sees its
classes as of the call (the differential programs class_versions_* check
that end to end)."""

import enum
import threading

import pytest

from pydron import _serialize, _state

OFFSET = 0


def make_settings():
    class Settings:
        gain = 2

        def apply(self, x):
            return x * self.gain + OFFSET

    return Settings


def use(s, x):
    return s.apply(x)


def test_one_version_while_the_class_is_unchanged(session):
    global OFFSET
    S = make_settings()
    s = S()
    fs = [session.submit(use, (s, i), {}) for i in range(40)]
    e1 = session._cvers[id(S)]
    fs += [session.submit(use, (S(), i), {}) for i in range(40, 80)]
    assert session._cvers[id(S)] is e1  # no new pickle of the class
    S.gain = 3
    f3 = session.submit(use, (s, 1), {})
    e2 = session._cvers[id(S)]
    assert e2.key != e1.key
    OFFSET = 10  # a global its method reads
    try:
        f4 = session.submit(use, (s, 1), {})
        assert session._cvers[id(S)].key != e2.key
    finally:
        OFFSET = 0
    S.gain = 2
    assert [f.result() for f in fs] == [2 * i for i in range(80)]
    assert f3.result() == 3 and f4.result() == 13


def test_class_state_sees_every_change_of_its_classes():
    """ClassState.changed() trusts a class's version tag (_core.type_tag)
    while it is the same, and compares the dicts otherwise: every way
    Python code changes a class (its own attribute set, rebound to an equal
    value, added or deleted, a base's attribute, a method replaced, the
    metaclass's attribute) is still seen, each on its own."""
    from pydron import _core

    class Meta(type):
        pass

    class Base(metaclass=Meta):
        scale = 1.0

    def make():
        class Leaf(Base):
            gain = 2.0

            def apply(self, x):
                return x * self.gain * self.scale

        return Leaf

    changes = [
        lambda L: setattr(L, "gain", 3.0),
        lambda L: setattr(L, "gain", float("2")),  # equal, another float object
        lambda L: setattr(L, "extra", 1),
        lambda L: delattr(L, "gain"),
        lambda L: setattr(L, "apply", lambda self, x: x),
        lambda L: setattr(Base, "scale", 2.0),
        lambda L: setattr(Base, "new", 0),
    ]
    for change in changes:
        Base.scale = 1.0
        if hasattr(Base, "new"):
            del Base.new
        L = make()
        st = _state.ClassState(L)
        assert st.tags is not None and _core.type_tag(L) != 0
        assert not st.changed() and not st.changed()  # (the tags, then the tags again)
        change(L)
        assert st.changed(), change
    with pytest.raises(TypeError):
        _core.type_tag(1)


def test_pickle_caching_slot_names_is_not_a_change():
    """pickle caches __slotnames__ in a class the first time it pickles an
    instance of it, possibly after another class's version (whose methods
    name it) was taken in the same call's pickle: not a new version (the
    in-process copies would hold two copies of the one class)."""
    import copyreg

    def make():
        class Sample:
            def __init__(self, v):
                self.v = v

        class Model:
            def fit(self, data):
                return all(isinstance(d, Sample) for d in data)

        return Sample, Model

    Sample, Model = make()
    st = _state.ClassState(Model)
    assert Sample in st.classes and not st.changed()
    copyreg._slotnames(Sample)
    assert "__slotnames__" in vars(Sample)
    assert not st.changed()
    Sample.extra = 1
    assert st.changed()


def test_in_process_one_copy_per_version():
    from pydron import _backend

    s = _backend.Session("inline")
    try:
        S = make_settings()
        n0 = len(_serialize.CLASS_COPIES)
        fs = [s.submit(use, (S(), i), {}) for i in range(30)]
        assert len(_serialize.CLASS_COPIES) == n0 + 1
        ref, copy = _serialize.CLASS_COPIES[s._cvers[id(S)].key]
        assert ref() is S and copy is not S and copy.gain == 2
        S.gain = 4
        fs.append(s.submit(use, (S(), 1), {}))
        assert len(_serialize.CLASS_COPIES) == n0 + 2
        assert copy.gain == 2  # the earlier calls' copy is as of their call
        assert [f.result() for f in fs] == [2 * i for i in range(30)] + [4]
    finally:
        s.close()
    assert len(_serialize.CLASS_COPIES) == n0


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_classes_made_on_the_fly_do_not_pile_up(executor):
    import gc

    from pydron import _backend

    if executor == "local":
        from conftest import require_local

        require_local()
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(_backend, "_CLASS_VERSIONS_MAX", 8)
    s = _backend.Session(executor, workers=2)
    try:
        import weakref

        fs, made = [], []
        for i in range(60):
            S = make_settings()  # a new class each time, as a class statement in a loop
            made.append(weakref.ref(S))
            fs.append(s.submit(use, (S(), i), {}))
            assert len(s._cvers) <= 8
        assert [f.result() for f in fs] == [2 * i for i in range(60)]
        del S, fs
        gc.collect()
        assert sum(r() is not None for r in made) <= 8  # the session keeps no more
    finally:
        s.close()
        monkeypatch.undo()


def _version(cls):
    return _state.dumps_class(cls, _state.ClassState(cls))


def test_worker_reloads_a_version_only_when_another_set_the_class():
    S = make_settings()
    b1 = _version(S)
    S.gain = 5
    b2 = _version(S)
    # in this process the class is the driver's own: loading sets its state
    load = _serialize.class_version
    assert load(("c", 0, -11), [b1], None, False) is S and S.gain == 2
    assert load(("c", 0, -12), [b2], None, False) is S and S.gain == 5
    assert load(("c", 0, -11), [b1], None, False) is S and S.gain == 2  # set again
    S.gain = 99  # not through a load: a cached version is not loaded again
    assert load(("c", 0, -11), [b1], None, False) is S and S.gain == 99
    _serialize._TaskUnpickler(__import__("io").BytesIO(b2)).load()  # another load sets it
    assert S.gain == 5
    assert load(("c", 0, -11), [b1], None, False) is S and S.gain == 2


def test_attribute_deleted_in_the_driver_is_deleted_in_the_worker():
    S = make_settings()
    S.extra = 1
    b1 = _version(S)
    del S.extra
    b2 = _version(S)
    S.extra = 7
    _serialize.class_version(("c", 0, -21), [b1], None, False)
    assert S.extra == 1
    _serialize.class_version(("c", 0, -22), [b2], None, False)
    assert not hasattr(S, "extra")
    assert S().apply(1) == 2


def test_enum_members_survive_a_new_version():
    def make():
        class Color(enum.Enum):
            RED = 1
            BLUE = 2

            def twice(self):
                return 2 * self.value

        return Color

    C = make()
    b = _version(C)
    _serialize.class_version(("c", 0, -31), [b], None, False)
    assert C(2) is C.BLUE and C.RED.twice() == 2 and list(C) == [C.RED, C.BLUE]


def test_a_class_that_cannot_be_versioned_goes_by_value(session, monkeypatch):
    monkeypatch.setattr(_state, "_MAX_FUNCS", 1)  # the walk stops: no version
    S = make_settings()
    fs = [session.submit(use, (S(), i), {}) for i in range(5)]
    assert id(S) not in session._cvers
    assert [f.result() for f in fs] == [2 * i for i in range(5)]


def make_locked():
    class Locked:
        lock = threading.Lock()

        def v(self):
            return 1

    return Locked


def v_of(o):
    return o.v()


def test_an_unpicklable_class_is_reported_at_the_call(session):
    L = make_locked()
    with pytest.raises(TypeError, match=r"v_of\(\): argument 'o'"):
        session.submit(v_of, (L(),), {})
    assert id(L) not in session._cvers


# -- classes in results: class references -------------------------------------


def test_result_names_its_class_and_the_driver_takes_its_own():
    S = make_settings()
    blob = _serialize.encode_result(S())
    got = _serialize.decode_result(blob, True)
    assert type(got) is S and got.apply(2) == 4


def test_result_class_unknown_to_the_reader_is_loaded_from_the_reference(monkeypatch):
    from cloudpickle import cloudpickle as cp

    S = make_settings()
    blob = _serialize.encode_result(S())
    tid = cp._get_or_create_tracker_id(S)
    monkeypatch.delitem(cp._DYNAMIC_CLASS_TRACKER_BY_ID, tid)  # as a process without it
    got = _serialize.decode_result(blob, True)
    assert type(got) is not S and type(got).__name__ == "Settings" and got.apply(2) == 4


def test_worker_pickles_a_class_once_while_no_load_set_it(monkeypatch):
    monkeypatch.setattr(_serialize, "IN_DRIVER", False)  # as in a worker process
    S = make_settings()
    _serialize.encode_result(S())
    first = _serialize._CLASS_BYTES[id(S)]
    _serialize.encode_result(S())
    assert _serialize._CLASS_BYTES[id(S)] is first  # the same pickle again
    b = _version(S)
    _serialize.class_version(("c", 0, -41), [b], None, False)  # a load sets S
    _serialize.encode_result(S())
    assert _serialize._CLASS_BYTES[id(S)] is not first


def test_driver_classes_are_pickled_anew_in_the_driver(monkeypatch):
    monkeypatch.setattr(_serialize, "IN_DRIVER", True)
    S = make_settings()
    a = _serialize.encode_result(S())
    assert id(S) not in _serialize._CLASS_BYTES  # the program may change it any time
    S.gain = 7
    got = _serialize.decode_result(a, False)  # a task's side: the class it has, kept
    assert type(got) is S and got.apply(1) == 7
