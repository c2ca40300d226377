"""Leader election against an in-memory Lease with resourceVersion checks."""

import asyncio
import itertools
from typing import Any

import pytest
from taskmill.operator.election import LeaderElector

from taskmill.kube import ApiError


class FakeLeases:
    """GET / POST / merge-PATCH of one Lease, 409 when the resourceVersion is stale."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = itertools.count(1)
        self.down = False

    async def get(self, path: str) -> dict[str, Any]:
        if self.down:
            raise ApiError(503, "ServiceUnavailable", "down")
        if self.lease is None:
            raise ApiError(404, "NotFound", path)
        return {"metadata": dict(self.lease["metadata"]), "spec": dict(self.lease["spec"])}

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.lease is not None:
            raise ApiError(409, "AlreadyExists", path)
        self.lease = {
            "metadata": {"resourceVersion": str(next(self.version))},
            "spec": body["spec"],
        }
        return self.lease

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.lease is not None
        expected = body.get("metadata", {}).get("resourceVersion")
        if expected is not None and expected != self.lease["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", path)
        self.lease["spec"] = {**self.lease["spec"], **body["spec"]}
        self.lease["metadata"]["resourceVersion"] = str(next(self.version))
        return self.lease


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def elector(leases: FakeLeases, who: str, clock: Clock) -> LeaderElector:
    return LeaderElector(
        leases,  # type: ignore[arg-type]
        "ns",
        who,
        duration_seconds=15,
        retry_seconds=0,
        monotonic=clock,
    )


def test_standby_takes_over_only_after_the_leader_went_silent() -> None:
    leases, clock = FakeLeases(), Clock()
    a, b = elector(leases, "a", clock), elector(leases, "b", clock)

    async def scenario() -> None:
        assert await a._try()
        assert not await b._try()  # b sees a's record for the first time
        clock.now = 10.0
        assert await a._try()  # a renews: the record changes
        assert not await b._try()  # and b sees the change now, on its own clock
        clock.now = 24.0
        assert not await b._try()  # b saw the renewal at 10.0: 14 s < 15 s
        clock.now = 25.0
        assert await b._try()
        assert leases.lease is not None
        assert leases.lease["spec"]["holderIdentity"] == "b"
        assert leases.lease["spec"]["leaseTransitions"] == 1
        assert not await a._try()  # a's stale view loses

    asyncio.run(scenario())


def test_leader_that_cannot_renew_gives_up_before_a_standby_may_take_over() -> None:
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


@pytest.mark.parametrize("holder", ["a", "other"])
def test_release_frees_only_our_own_lease(holder: str) -> None:
    leases, clock = FakeLeases(), Clock()
    a = elector(leases, "a", clock)
    leases.lease = {"metadata": {"resourceVersion": "7"}, "spec": {"holderIdentity": holder}}
    asyncio.run(a.release())
    assert leases.lease["spec"]["holderIdentity"] == ("" if holder == "a" else "other")
