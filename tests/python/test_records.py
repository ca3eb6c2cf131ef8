"""Records: instances of plain dataclasses built from results in a loop
(Result(name, flux=measure(i))) hold the placeholders, as a list does, so
the loop submits every task before the first finishes; code other than the
translated one only ever sees the values (the record's fields are settled
in place first). Classes whose construction or attribute access runs code
of the program still get values."""

from dataclasses import dataclass, field

import pytest

from gates import SubmitLog, wait_gate
from pydron import functional, schedule
from pydron._runtime.state import records


@functional
def work(i, gate=None):
    wait_gate(gate)
    return i * 10


@dataclass
class Result:
    name: str
    flux: float
    tags: list = field(default_factory=list)


@dataclass(frozen=True)
class Frozen:
    flux: float
    band: str = "g"


@dataclass
class Outer:
    inner: Result
    pair: tuple


@dataclass
class Base:
    flux: float


@dataclass
class Derived(Base):
    err: float = 0.0


@schedule
def built_in_loop(n, gate):
    out = []
    for i in range(n):
        out.append(Result(f"r{i}", work(i, gate)))
    return sum(r.flux for r in out)


@schedule
def frozen_keywords(n, gate):
    out = [Frozen(flux=work(i, gate), band="r") for i in range(n)]
    return sum(r.flux for r in out)


@schedule
def nested_with_list_field(n, gate):
    out = []
    for i in range(n):
        out.append(Outer(Result("x", 1.0, [work(i, gate)]), (work(i, gate), i)))
    return sum(o.inner.tags[0] + o.pair[0] for o in out)


@schedule
def inherited(n, gate):
    out = []
    for i in range(n):
        out.append(Derived(work(i, gate), err=0.5))
    return sum(d.flux + d.err for d in out)


@dataclass(slots=True)
class SlotResult:
    name: str
    flux: float
    tags: list = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FrozenSlots:
    flux: float
    band: str = "g"


@dataclass(slots=True)
class SlotsOverDict(Base):
    """Slots of its own over a base with a __dict__."""
    err: float = 0.0


class HandSlots:
    """__slots__ written by hand (a private one mangled), __init__ only
    stores its parameters."""
    __slots__ = ("name", "__flux", "__weakref__")

    def __init__(self, name, flux):
        self.name = name
        self.__flux = flux

    def flux(self):
        return self.__flux


@schedule
def slotted_in_loop(n, gate):
    out = []
    for i in range(n):
        out.append(SlotResult(f"r{i}", work(i, gate), [work(i, gate)]))
    return sum(r.flux + r.tags[0] for r in out)


@schedule
def frozen_slots(n, gate):
    out = [FrozenSlots(flux=work(i, gate), band="r") for i in range(n)]
    return sum(r.flux for r in out)


@schedule
def slots_over_dict(n, gate):
    out = [SlotsOverDict(work(i, gate), err=work(i, gate)) for i in range(n)]
    return sum(d.flux + d.err for d in out)


@schedule
def hand_slots(n, gate):
    out = [HandSlots("h", work(i, gate)) for i in range(n)]
    return sum(h.flux() for h in out)


class Plain:
    """__init__ only stores its parameters: no code to wait for."""

    def __init__(self, name, flux, err=0.5, *, tags=()):
        self.name = name
        self.flux = flux
        self.err = err
        self.tags = [name, tags]


@schedule
def built_by_init(n, gate):
    out = []
    for i in range(n):
        out.append(Plain(f"p{i}", work(i, gate), tags=(i,)))
    return sum(p.flux + p.err for p in out)


@pytest.mark.parametrize("fn, expect", [
    (built_in_loop, 30), (frozen_keywords, 30), (nested_with_list_field, 60),
    (inherited, 31.5), (built_by_init, 31.5), (slotted_in_loop, 60), (frozen_slots, 30),
    (slots_over_dict, 60), (hand_slots, 30),
], ids=lambda v: getattr(v, "__name__", None))
def test_records_of_placeholders_do_not_wait(executor, monkeypatch, tmp_path, fn, expect):
    (tmp_path / "open").touch()
    assert fn(3, str(tmp_path / "open")) == expect  # (result categories learned)
    log = SubmitLog(monkeypatch)
    n = len(log.futures)
    log.open_gate(work, 6 if fn in (nested_with_list_field, slotted_in_loop, slots_over_dict)
                  else 3, tmp_path / "go")
    assert fn(3, str(tmp_path / "go")) == expect
    assert log.done_at_submit == [0] * len(log.futures) and len(log.futures) > n


class Star:
    def __init__(self, name):
        self.name = name


@schedule
def stored_attributes(n, gate):
    stars = [Star(f"s{i}") for i in range(n)]
    for i, s in enumerate(stars):
        s.flux = work(i, gate)
    return sum(s.flux for s in stars)


def test_attribute_stores_of_placeholders_do_not_wait(executor, monkeypatch, tmp_path):
    (tmp_path / "open").touch()
    assert stored_attributes(3, str(tmp_path / "open")) == 30
    log = SubmitLog(monkeypatch)
    log.open_gate(work, 3, tmp_path / "go")
    assert stored_attributes(3, str(tmp_path / "go")) == 30
    assert log.done_at_submit == [0, 0, 0]
    assert Star in records


seen_types = []


def look(rec):
    seen_types.append(type(rec.flux).__name__)
    return rec.flux + 1


@dataclass
class Watched:
    flux: float

    def __setattr__(self, name, value):
        seen_types.append(type(value).__name__)
        object.__setattr__(self, name, value)


@dataclass(slots=True)
class Slotted:
    flux: float


@dataclass
class Posted:
    flux: float

    def __post_init__(self):
        seen_types.append(type(self.flux).__name__)


@dataclass
class Dynamic:
    flux: float

    def __getattr__(self, name):
        return name


class Noisy:
    def __init__(self, flux):
        seen_types.append(type(flux).__name__)
        self.flux = flux


@schedule
def seen_by_other_code(n):
    recs = [Result("a", work(i)) for i in range(n)]
    out = [look(r) for r in recs]
    others = [Watched(work(i)) for i in range(n)] + [Posted(work(i)) for i in range(n)]
    slotted = [Slotted(work(i)) for i in range(n)]
    dyn = [Dynamic(work(i)) for i in range(n)] + [Noisy(work(i)) for i in range(n)]
    return out, [o.flux for o in others], [s.flux for s in slotted], [d.flux for d in dyn]


def test_other_code_sees_values(executor):
    seen_types.clear()
    records.clear()
    got = seen_by_other_code(3)
    assert got == ([1, 11, 21], [0, 10, 20] * 2, [0, 10, 20], [0, 10, 20] * 2)
    assert seen_types == ["int"] * 12
    assert Result in records and Slotted in records
    assert not {Watched, Posted, Dynamic, Noisy} & records


@schedule
def failing(n, bad):
    out = []
    for i in range(n):
        out.append(Result("f", work(i) // (i - bad)))
    return [r.flux for r in out]


def test_a_failing_field_raises_in_order(executor):
    assert failing(3, -1) == [0, 5, 6]
    with pytest.raises(ZeroDivisionError):
        failing(4, 2)


@pytest.mark.parametrize("body, simple", [
    ("self.a = a\n        self.b = b", True),
    ("self.a = a\n        self.b = [a, b]\n        self.c = (b, 1)\n        self.d = {}", True),
    ("self.a = 'x'\n        self.b = None", True),
    ("pass", True),
    ("self.a = a * 2", False),                       # arithmetic (a dunder of a)
    ("self.a = len(a)", False),                      # a call
    ("super().__init__()\n        self.a = a", False),
    ("x = a\n        self.a = x", False),            # a local
    ("a.owner = self", False),                       # stores into another object
    ("self.me = self", False),                       # self escapes into itself
    ("if a:\n            self.a = a", False),        # control flow
    ("self.a = self.b = a", False),                  # (a copy on the stack)
    ("self.a = {'k': a}", False),                    # a dict display hashes its keys
    ("self.a = a\n        print(a)", False),
    ("self.a = a\n        return None", True),
])
def test_which_constructors_are_plain_stores(body, simple):
    from pydron._runtime.calls import _simple_init

    ns = {"__name__": "records_case"}  # (a class of a module, not of builtins)
    exec(f"class C:\n    def __init__(self, a=1, b=2):\n        {body}\n", ns)
    assert _simple_init(ns["C"]) is simple


def test_plain_stores_but_classes_that_run_code_are_left_out():
    from pydron._runtime.calls import _simple_init

    class Prop:
        def __init__(self, a):
            self.a = a

        @property
        def a(self):
            return 1

        @a.setter
        def a(self, v):
            pass

    class Meta(type):
        pass

    class WithMeta(metaclass=Meta):
        def __init__(self, a):
            self.a = a

    class Gen:
        def __init__(self, a):  # noqa: PLE0303 - a generator __init__ (TypeError when called)
            self.a = a
            yield

    assert not _simple_init(Prop) and not _simple_init(WithMeta) and not _simple_init(Gen)
