"""The Ray executor (issue 14 item 5, "Ray the same way") on a real Ray head
started by the test (`ray start --head`, raycluster.py): results of a tree
of dependent tasks as in plain Python, exceptions with their type, message
and remote frame, large values left in Ray's object store, clear errors.
Selected differential programs run on it in test_differential.py."""

import logging
import os

import pytest

import raycluster

pytestmark = pytest.mark.skipif(not raycluster.available()[0],
                                reason=raycluster.available()[1])

import pydron  # noqa: E402
from pydron import _backend, functional, schedule  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with raycluster.RayCluster(cpus=2) as c:
        yield c


@pytest.fixture
def ray_session(cluster):
    pydron.configure(executor="ray", address=cluster.address)
    yield cluster
    _backend.shutdown()
    pydron.config.reset()


def plain_leaf(i):
    return i * i + 1


def plain_join(a, b):
    return (a * 31 + b) % 1000003


leaf, join = functional(plain_leaf), functional(plain_join)


@functional
def where():
    return os.getpid()


@schedule
def tree(n):
    level = [leaf(i) for i in range(n)]
    while len(level) > 1:
        level = [join(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0], [where() for _ in range(4)]


def plain_tree(n):
    level = [plain_leaf(i) for i in range(n)]
    while len(level) > 1:
        level = [plain_join(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


class Oops(Exception):
    pass


@functional
def fails(x):
    if x == 3:
        raise Oops(f"bad {x}")
    return x


@schedule
def first_failure(n):
    out = []
    for i in range(n):
        out.append(fails(i))
    return out


@functional
def chatty(x):
    logging.getLogger("pydron.test.ray").warning("task says %d", x)
    return x + 1


@schedule
def logs():
    return chatty(41)


@functional
def big(n):
    return bytes(n)


@functional
def size_of(b):
    return len(b)


@schedule
def big_then_small(n):
    b = big(n)
    return size_of(b), size_of(b)


def test_tree_of_dependent_tasks_as_sequential(ray_session):
    got, pids = tree(37)
    assert got == plain_tree(37)  # the oracle: the same functions, undecorated
    assert os.getpid() not in pids  # they ran in Ray's workers, not in the driver
    assert _backend.current().executor == "ray"


def test_exception_type_message_and_remote_frame(ray_session):
    with pytest.raises(Oops, match="^bad 3$") as ei:
        first_failure(6)
    assert "fails" in [f.name for f in ei.traceback]  # the task's own frame


def test_log_records_reach_the_driver(ray_session, caplog):
    with caplog.at_level(logging.WARNING, logger="pydron.test.ray"):
        assert logs() == 42
    assert "task says 41" in caplog.text


@schedule
def big_to_driver(n):
    return big(n)


def test_large_value_stays_in_the_object_store(ray_session):
    """8 MB made by one task and read by two others: they get it as an
    ObjectRef from Ray's object store; the driver neither receives it nor
    sends it to the cluster. Reading it in the driver does move it (the
    counters see it)."""
    n = 8 << 20
    assert big_then_small(n) == (n, n)
    ex = _backend.current()._engine
    assert 0 < ex.bytes_sent < 1 << 20 and ex.bytes_got < 1 << 20, (ex.bytes_sent, ex.bytes_got)
    got = ex.bytes_got
    assert len(big_to_driver(n)) == n
    assert ex.bytes_got - got >= n


def test_configuration_errors_are_clear():
    import ray

    if ray.is_initialized():
        pytest.skip("a Ray is already initialized in this process")
    pydron.configure(executor="ray")
    try:
        with pytest.raises(ValueError, match="needs the Ray cluster's address"):
            tree(3)
    finally:
        _backend.shutdown()
        pydron.config.reset()
