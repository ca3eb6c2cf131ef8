"""Every scheduling policy is reachable from configure(policy=...) and gives
the sequential results, on worker threads and on worker processes (a graph
with a fan-out, a chain and a reduction, so that the policies' choices
differ)."""

import pytest

import pydron
from pydron import config, functional, schedule


@functional
def leaf(i):
    return i * i


@functional
def step(x, i):
    return x * 3 + i


@functional
def total(*xs):
    return sum(xs)


@schedule
def program(n):
    leaves = [leaf(i) for i in range(n)]
    chain = 1
    for i in range(n):
        chain = step(chain, i)
    return total(*leaves), chain


def sequential(n):
    chain = 1
    for i in range(n):
        chain = chain * 3 + i
    return sum(i * i for i in range(n)), chain


@pytest.mark.parametrize("executor", ["threads", "local"])
@pytest.mark.parametrize("policy", config.POLICIES)
def test_every_policy_gives_sequential_results(policy, executor):
    pydron.configure(executor=executor, workers=2, policy=policy)
    try:
        assert program(40) == sequential(40)
    finally:
        pydron.configure()


def test_unknown_policy_is_a_clear_error_and_changes_nothing():
    pydron.configure(executor="threads", workers=2, policy="heft")
    try:
        with pytest.raises(ValueError, match="policy must be one of .*heft.*not 'fastest'"):
            pydron.configure(policy="fastest")
        assert config.resolved()["policy"] == "heft"  # the earlier settings stay
        assert program(10) == sequential(10)
    finally:
        pydron.reset() if hasattr(pydron, "reset") else config.reset()
        pydron.configure()
