"""Leader election against an in-memory Lease with resourceVersion checks."""

import asyncio
import itertools
import time
from typing import Any

import pytest
from taskmill.operator.election import LeaderElector, default_identity

from taskmill.kube import ApiError


class FakeLeases:
    """GET / POST / merge-PATCH of one Lease, 409 when the resourceVersion is stale.

    `down` answers 503; `hang` never answers (an API server that stopped)."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = itertools.count(1)
        self.down = False
        self.hang = False
        self.timeouts: list[float] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float = 30,
    ) -> dict[str, Any]:
        self.timeouts.append(request_timeout)
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            raise ApiError(503, "ServiceUnavailable", "down")
        if method == "GET":
            if self.lease is None:
                raise ApiError(404, "NotFound", path)
            return {"metadata": dict(self.lease["metadata"]), "spec": dict(self.lease["spec"])}
        if method == "POST":
            if self.lease is not None:
                raise ApiError(409, "AlreadyExists", path)
            self.lease = {"metadata": {"resourceVersion": "0"}, "spec": body["spec"]}
        else:
            assert self.lease is not None
            assert content_type == "application/merge-patch+json"
            expected = body.get("metadata", {}).get("resourceVersion")
            if expected is not None and expected != self.lease["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", path)
            self.lease["spec"] = {**self.lease["spec"], **body["spec"]}
        self.lease["metadata"]["resourceVersion"] = str(next(self.version))
        return self.lease

    @property
    def holder(self) -> str:
        assert self.lease is not None
        return str(self.lease["spec"]["holderIdentity"])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def elector(leases: FakeLeases, who: str, clock: Any, **kwargs: Any) -> LeaderElector:
    options = {"duration_seconds": 15, "retry_seconds": 0, "monotonic": clock, **kwargs}
    return LeaderElector(leases, "ns", who, **options)


def test_standby_takes_over_only_after_the_leader_went_silent() -> None:
    leases, clock = FakeLeases(), Clock()
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
        assert leases.holder == "b"
        assert leases.lease is not None
        assert leases.lease["spec"]["leaseTransitions"] == 1

    asyncio.run(scenario())


def test_a_leader_that_sees_another_holder_steps_down_at_once() -> None:
    leases, clock = FakeLeases(), Clock()
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
        assert leases.holder == "b"

    asyncio.run(scenario())


def test_a_leader_that_cannot_renew_steps_down_before_a_standby_may_take_over() -> None:
    leases, clock = FakeLeases(), Clock()
    a = elector(leases, "a", clock)

    async def scenario() -> float:
        await a.acquire()
        leases.down = True

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
    leases = FakeLeases()
    a = elector(leases, "a", time.monotonic, duration_seconds=1, retry_seconds=0.05)

    async def scenario() -> float:
        await a.acquire()
        leases.hang = True
        started = time.monotonic()
        await asyncio.wait_for(a.hold(), timeout=5)
        return time.monotonic() - started

    held_for = asyncio.run(scenario())
    assert held_for < 1.0  # the lease duration: a standby may take over from then on
    assert not a.leading
    assert max(leases.timeouts) <= 1.0  # no request may outlast the lease it protects


def test_a_second_process_with_the_same_identity_does_not_lead_too() -> None:
    leases, clock = FakeLeases(), Clock()
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


@pytest.mark.parametrize("holder", ["a", "other"])
def test_release_frees_only_our_own_lease(holder: str) -> None:
    leases, clock = FakeLeases(), Clock()
    a = elector(leases, "a", clock)
    leases.lease = {"metadata": {"resourceVersion": "7"}, "spec": {"holderIdentity": holder}}
    asyncio.run(a.release())
    assert leases.holder == ("" if holder == "a" else "other")
