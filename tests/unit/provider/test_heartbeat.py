"""The heartbeat's decisions on an injected clock, and its renewals against FakeKube."""

import asyncio

import pytest
from taskmill.provider.background import Background
from taskmill.provider.context import Context
from taskmill.provider.heartbeat import Beat, Heartbeat, beat
from taskmill.provider.held import Held, Phase, Renewal, StopReason
from taskmill.provider.lease_clock import LeaseClock

from taskmill.api.protocol import Fence
from taskmill.api.task import Task
from taskmill.kube import ApiError
from tests.fakes.clock import ManualClock
from tests.fakes.kube_api import FakeKube
from tests.unit.provider.kit import api_with, clock_of, is_renewal, running, until


def held_on(clock: ManualClock, duration: int = 15, interval: int = 5) -> Held:
    task = Task.model_validate(running())
    lease_clock = LeaseClock.start(duration, interval, clock.now)
    return Held(task, Fence("me", 1), lease_clock, Context(task))


@pytest.mark.parametrize(
    ("elapsed", "renewal", "phase", "expected"),
    [
        (0.0, Renewal.IDLE, Phase.RUNNING, Beat.WAIT),
        (4.9, Renewal.IDLE, Phase.RUNNING, Beat.WAIT),
        (5.0, Renewal.IDLE, Phase.RUNNING, Beat.RENEW),
        (5.0, Renewal.IN_FLIGHT, Phase.RUNNING, Beat.WAIT),
        (5.0, Renewal.IDLE, Phase.STOPPING, Beat.RENEW),  # cancel: renew while terminating
        (12.0, Renewal.IDLE, Phase.RUNNING, Beat.STOP),
        (12.0, Renewal.IDLE, Phase.FINISHING, Beat.WAIT),
        (12.0, Renewal.IDLE, Phase.ENDED, Beat.WAIT),
    ],
)
def test_beat(elapsed: float, renewal: Renewal, phase: Phase, expected: Beat) -> None:
    clock = ManualClock()
    held = held_on(clock)
    held.renewal, held.phase = renewal, phase
    clock.advance(elapsed)
    assert beat(held, clock.now) == expected


def heartbeat_for(api: FakeKube, clock: ManualClock, held: Held) -> tuple[Heartbeat, Background]:
    chores = Background()
    return Heartbeat(api, "ns", {held.name: held}, chores, clock_of(clock)), chores


def test_an_accepted_renewal_moves_the_deadline_from_when_it_was_sent() -> None:
    async def main() -> None:
        clock, api = ManualClock(), api_with(running())
        held = held_on(clock)
        heartbeat, chores = heartbeat_for(api, clock, held)
        answer = api.hold(is_renewal)
        clock.advance(5)
        heartbeat.tick()
        await until(lambda: bool(api.writes()))
        assert beat(held, clock.now) is Beat.WAIT  # in flight: no second renewal
        clock.advance(3)  # the answer takes a while: the deadline counts from the send
        answer.set()
        await chores.settle()
        assert held.renewal is Renewal.IDLE
        assert [is_renewal(r) for r in api.writes()] == [True]
        assert not held.clock.expired(clock.now + 8.9)
        assert held.clock.expired(clock.now + 9.0)

    asyncio.run(main())


def test_a_rejected_renewal_stops_the_work_for_good() -> None:
    async def main() -> None:
        clock, api = ManualClock(), api_with(running(epoch=2))  # the lease moved on
        held = held_on(clock)
        heartbeat, chores = heartbeat_for(api, clock, held)
        clock.advance(5)
        heartbeat.tick()
        await chores.settle()
        assert held.stop_reason is StopReason.LEASE_LOST
        assert held.ctx.cancelled.is_set()

    asyncio.run(main())


def test_a_failed_renewal_keeps_its_progress_for_the_next_one() -> None:
    async def main() -> None:
        clock, api = ManualClock(), api_with(running())
        api.fail(is_renewal, ApiError(503, "ServiceUnavailable", "etcd"))
        held = held_on(clock)
        heartbeat, chores = heartbeat_for(api, clock, held)
        held.ctx.progress(40, "reading")
        clock.advance(5)
        heartbeat.tick()
        await chores.settle()
        assert (held.stop_reason, held.renewal) == (None, Renewal.IDLE)
        heartbeat.tick()  # still due: retried on the next tick
        await chores.settle()
        _, retried = api.writes()
        progress = {"message": "reading", "percent": 40}
        assert {"op": "add", "path": "/status/progress", "value": progress} in retried.body

    asyncio.run(main())


def test_past_its_own_deadline_the_holder_stops_the_work() -> None:
    clock, api = ManualClock(), api_with(running())
    held = held_on(clock)
    heartbeat, _ = heartbeat_for(api, clock, held)
    clock.advance(12)
    heartbeat.tick()
    assert held.stop_reason is StopReason.DEADLINE_MISSED
    assert api.writes() == []
