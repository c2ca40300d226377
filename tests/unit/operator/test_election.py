"""Leader election against the in-memory API (tests/fakes): Lease writes fenced on the
resourceVersion, an API server that is down (503) or never answers (held)."""

import asyncio
import time
from typing import Any

import pytest
from taskmill.operator.election import LEASE_NAME, LeaderElector, default_identity

from taskmill.kube import ApiError
from taskmill.kube.paths import LEASES
from tests.fakes.kube import FakeKube

PATH = LEASES.path("ns", LEASE_NAME)


def holder(kube: FakeKube) -> str:
    return str(kube.objects[PATH]["spec"]["holderIdentity"])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def elector(leases: FakeKube, who: str, clock: Any, **kwargs: Any) -> LeaderElector:
    options = {"duration_seconds": 15, "retry_seconds": 0, "monotonic": clock, **kwargs}
    return LeaderElector(leases, "ns", who, **options)


def test_standby_takes_over_only_after_the_leader_went_silent() -> None:
    leases, clock = FakeKube(), Clock()
    a, b = elector(leases, "a", clock), elector(leases, "b", clock)

    async def scenario() -> None:
        await a.acquire()
        assert (await b._try(1)).value == "wait"  # b sees a's record for the first time
        clock.now = 10.0
        assert (await a._try(1)).value == "held"  # a renews: the record changes
        assert (await b._try(1)).value == "wait"  # and b sees the change now, on its own clock
        clock.now = 24.0
        assert (await b._try(1)).value == "wait"  # b saw the renewal at 10.0: 14 s < 15 s
        clock.now = 25.0
        assert (await b._try(1)).value == "held"
        assert holder(leases) == "b"
        assert leases.objects[PATH]["spec"]["leaseTransitions"] == 1

    asyncio.run(scenario())


def test_a_leader_that_sees_another_holder_steps_down_at_once() -> None:
    leases, clock = FakeKube(), Clock()
    a, b = elector(leases, "a", clock), elector(leases, "b", clock)

    async def scenario() -> None:
        await a.acquire()
        assert a.leading
        clock.now = 20.0  # a paused past its lease: b takes over
        await b._try(1)
        clock.now = 40.0
        await b.acquire()
        clock.now = 40.5  # a wakes up, well inside what it believes its renew deadline
        a._renewed_at = 40.0
        await asyncio.wait_for(a.hold(), timeout=5)
        assert not a.leading
        assert holder(leases) == "b"

    asyncio.run(scenario())


def test_a_leader_that_cannot_renew_steps_down_before_a_standby_may_take_over() -> None:
    leases, clock = FakeKube(), Clock()
    a = elector(leases, "a", clock)

    async def scenario() -> float:
        await a.acquire()
        leases.fail(lambda _: True, ApiError(503, "ServiceUnavailable", "down"), times=None)

        async def tick() -> None:
            while True:
                await asyncio.sleep(0)
                clock.now += 0.5

        ticker = asyncio.create_task(tick())
        await asyncio.wait_for(a.hold(), timeout=5)
        ticker.cancel()
        return clock.now

    gave_up = asyncio.run(scenario())
    assert 10.0 <= gave_up < 15.0  # renew deadline 2/3 of the 15 s lease


def test_a_renewal_that_hangs_is_cut_off_at_the_renew_deadline() -> None:
    # A request that never answers (an API server stopped mid-request) kept the old
    # leader waiting on it, and leading, for the client's 30 s request timeout.
    leases = FakeKube()
    a = elector(leases, "a", time.monotonic, duration_seconds=1, retry_seconds=0.05)

    async def scenario() -> float:
        await a.acquire()
        leases.hold(lambda _: True)  # never released: the API server stopped
        started = time.monotonic()
        await asyncio.wait_for(a.hold(), timeout=5)
        return time.monotonic() - started

    held_for = asyncio.run(scenario())
    assert held_for < 1.0  # the lease duration: a standby may take over from then on
    assert not a.leading
    assert (
        max(r.timeout for r in leases.requests) <= 1.0
    )  # no request may outlast the lease it protects


def test_a_second_process_with_the_same_identity_does_not_lead_too() -> None:
    leases, clock = FakeKube(), Clock()
    first, second = elector(leases, "same", clock), elector(leases, "same", clock)

    async def scenario() -> None:
        await first.acquire()
        assert (await second._try(1)).value == "wait"
        clock.now = 10.0
        await first._try(1)
        clock.now = 20.0
        assert (await second._try(1)).value == "wait"  # first keeps renewing

    asyncio.run(scenario())


def test_default_identities_differ_between_processes_on_one_host() -> None:
    env = {"POD_NAME": "operator-7d9f"}
    one, two = default_identity(env), default_identity(env)
    assert one != two
    assert one.startswith("operator-7d9f_")
    assert default_identity({}) != default_identity({})


@pytest.mark.parametrize("who", ["a", "other"])
def test_release_frees_only_our_own_lease(who: str) -> None:
    leases, clock = FakeKube(), Clock()
    a = elector(leases, "a", clock)
    leases.put(
        LEASES.path("ns"), {"metadata": {"name": LEASE_NAME}, "spec": {"holderIdentity": who}}
    )
    asyncio.run(a.release())
    assert holder(leases) == ("" if who == "a" else "other")
