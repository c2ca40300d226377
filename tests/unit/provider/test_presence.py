"""The presence Lease makes the identity exclusive: against FakeKube, time stepped by hand."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from taskmill.provider.presence import (
    RETRY_SECONDS,
    IdentityInUseError,
    Presence,
    lease_name,
    presence_timing,
)

from taskmill.kube import ApiError
from taskmill.kube.paths import LEASES
from tests.fakes.clock import ManualClock
from tests.fakes.kube import FakeKube, on
from tests.unit.provider.kit import CONFIG

PATH = LEASES.path("ns", lease_name("me"))


def now() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


def presence(api: FakeKube, instance: str, on_sleep: Callable[[], None] = lambda: None) -> Presence:
    async def sleep(seconds: float) -> None:
        on_sleep()
        await asyncio.sleep(0)

    return Presence(api, CONFIG, now, instance=instance, sleep=sleep)


def holder(api: FakeKube) -> str:
    return str(api.objects[PATH]["metadata"]["annotations"]["taskmill.io/instance"])


def test_a_second_live_process_with_the_same_identity_is_refused() -> None:
    async def main() -> None:
        api = FakeKube()
        first = presence(api, "first")
        await first.announce()

        # The first renews while the second watches its Lease.
        def renewed_by_first() -> None:
            api.put(LEASES.path("ns"), api.objects[PATH])

        second = presence(api, "second", on_sleep=renewed_by_first)
        with pytest.raises(IdentityInUseError, match=r"identity 'me' is in use.*'first'"):
            await second.announce()
        assert holder(api) == "first"
        await second.retract()  # never its Lease to delete
        assert holder(api) == "first"

    asyncio.run(main())


def test_a_lease_nobody_renews_any_more_is_taken_over() -> None:
    async def main() -> None:
        api = FakeKube()
        await presence(api, "dead").announce()
        sleeps: list[int] = []
        reborn = presence(api, "reborn", on_sleep=lambda: sleeps.append(1))
        await reborn.announce()
        assert holder(api) == "reborn"
        assert len(sleeps) == 6  # watched it for a whole lease duration first
        await reborn.retract()
        assert PATH not in api.objects

    asyncio.run(main())


def test_a_process_whose_lease_was_taken_over_stops_renewing_it() -> None:
    async def main() -> None:
        api = FakeKube()
        old = presence(api, "old")
        await old.announce()
        await presence(api, "new").announce()  # `old` was paused past its lease
        with pytest.raises(IdentityInUseError):
            await old.keep()
        await old.retract()
        assert holder(api) == "new"

    asyncio.run(main())


def test_a_drain_asked_on_the_lease_is_answered_at_once_when_idle() -> None:
    """The operator marks the Lease to drain; the renewal that brings the mark back
    stops claiming (the callback) and the next renewal, made at once, reports it."""

    async def main() -> None:
        api = FakeKube()
        pauses: list[float] = []
        asked: list[bool] = []

        async def sleep(seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) > 3:
                raise asyncio.CancelledError

        def drain(requested: bool) -> bool:
            asked.append(requested)
            return requested  # idle: drained as soon as asked

        p = Presence(api, CONFIG, now, instance="me", sleep=sleep, drain=drain)
        await p.announce()
        api.objects[PATH]["metadata"]["annotations"]["taskmill.io/drain"] = "true"
        with pytest.raises(asyncio.CancelledError):
            await p.keep()
        interval = presence_timing(CONFIG).interval
        assert pauses == [interval, 0, interval, interval]
        assert asked == [True, True, True]
        assert api.objects[PATH]["metadata"]["annotations"]["taskmill.io/drained"] == "true"

    asyncio.run(main())


def test_accepted_renewals_keep_bound_leases_and_a_failed_one_is_retried_soon() -> None:
    """The renewals' send times are what the leases bound to the Lease live by; a failed
    renewal moves nothing and is retried after RETRY_SECONDS, not a whole interval."""

    async def main() -> None:
        api, clock = FakeKube(), ManualClock()
        pauses: list[float] = []
        sent: list[float] = []

        async def sleep(seconds: float) -> None:
            pauses.append(seconds)
            clock.advance(seconds)
            if len(pauses) > 3:
                raise asyncio.CancelledError

        p = Presence(api, CONFIG, now, instance="me", mono=clock.mono, sleep=sleep)
        await p.announce()
        sent.append(p.renewals.last_renewed)
        api.fail(on("json_patch", PATH), ApiError(503, "ServiceUnavailable", "etcd"))
        with pytest.raises(asyncio.CancelledError):
            await p.keep()
        sent.append(p.renewals.last_renewed)
        interval = presence_timing(CONFIG).interval
        # announce at 1000; renewal at +interval fails; retried at once; then renewed.
        assert pauses == [interval, RETRY_SECONDS, interval, interval]
        assert sent == [1000.0, 1000.0 + 2 * interval + RETRY_SECONDS]
        annotations = api.objects[PATH]["metadata"]["annotations"]
        assert annotations["taskmill.io/renew-interval-seconds"] == str(interval)

    asyncio.run(main())
