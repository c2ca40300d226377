"""The heartbeat's decisions on an injected clock, and its renewals against FakeKube."""

import asyncio
from pathlib import Path

import pytest
from taskmill.provider.background import Background
from taskmill.provider.context import Context
from taskmill.provider.heartbeat import Beat, Heartbeat, beat
from taskmill.provider.held import Held, Phase, Renewal, StopReason
from taskmill.provider.lease_clock import LeaseClock, LeaseTiming

from taskmill.api.protocol import Fence
from taskmill.api.task import Task
from taskmill.kube import ApiError
from tests.fakes.clock import ManualClock
from tests.fakes.kube import FakeKube
from tests.unit.provider.kit import api_with, clock_of, is_renewal, running, until


def held_on(clock: ManualClock) -> Held:
    """A 15 s lease with a 2.5 s kill grace: renewed every 5 s, given up after 11 s."""
    task = Task.model_validate(running())
    lease_clock = LeaseClock.start(LeaseTiming.of(15, 2.5), clock.now)
    ctx = Context(task, kill_grace_seconds=2.5, workdir=Path("/nonexistent"))
    return Held(task, Fence("me", 1), lease_clock, ctx)


RUN, STOPPING = Phase.RUNNING, Phase.STOPPING
IDLE, IN_FLIGHT = Renewal.IDLE, Renewal.IN_FLIGHT


@pytest.mark.parametrize(
    ("elapsed", "renewal", "phase", "reason", "expected"),
    [
        (0.0, IDLE, RUN, None, Beat.WAIT),
        (4.9, IDLE, RUN, None, Beat.WAIT),
        (5.0, IDLE, RUN, None, Beat.RENEW),
        (5.0, IN_FLIGHT, RUN, None, Beat.WAIT),
        (10.9, IN_FLIGHT, RUN, None, Beat.WAIT),
        # A renewal in flight does not hold off the holder's own deadline.
        (11.0, IN_FLIGHT, RUN, None, Beat.STOP),
        (11.0, IDLE, RUN, None, Beat.STOP),
        # Terminating after a cancel: the lease is still renewed, the deadline still holds.
        (5.0, IDLE, STOPPING, StopReason.CANCELLED, Beat.RENEW),
        (11.0, IDLE, STOPPING, StopReason.CANCELLED, Beat.STOP),
        # Stopped for good: no renewal, no second stop.
        (5.0, IDLE, STOPPING, StopReason.LEASE_LOST, Beat.WAIT),
        (11.0, IDLE, STOPPING, StopReason.DEADLINE_MISSED, Beat.WAIT),
        (11.0, IDLE, Phase.FINISHING, None, Beat.WAIT),
        (11.0, IDLE, Phase.ENDED, None, Beat.WAIT),
    ],
)
def test_beat(
    elapsed: float, renewal: Renewal, phase: Phase, reason: StopReason | None, expected: Beat
) -> None:
    clock = ManualClock()
    held = held_on(clock)
    held.renewal, held.phase, held.stop_reason = renewal, phase, reason
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
        await until(lambda: bool(api.sent("json_patch")))
        assert beat(held, clock.now) is Beat.WAIT  # in flight: no second renewal
        clock.advance(3)  # the answer takes a while: the deadline counts from the send
        answer.set()
        await chores.settle()
        assert held.renewal is Renewal.IDLE
        assert [is_renewal(r) for r in api.sent("json_patch")] == [True]
        assert not held.clock.expired(clock.now + 7.9)
        assert held.clock.expired(clock.now + 8.0)

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
        _, retried = api.sent("json_patch")
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
    assert api.sent("json_patch") == []


def test_a_hung_renewal_does_not_hold_off_the_deadline() -> None:
    async def main() -> None:
        clock, api = ManualClock(), api_with(running())
        answer = api.hold(is_renewal)  # the API server does not answer
        held = held_on(clock)
        heartbeat, chores = heartbeat_for(api, clock, held)
        clock.advance(5)
        heartbeat.tick()
        await until(lambda: bool(api.sent("json_patch")))
        clock.advance(6)
        heartbeat.tick()
        assert held.stop_reason is StopReason.DEADLINE_MISSED
        assert held.ctx.cancelled.is_set()
        # The renewal itself gives up by the deadline: it cannot hang on past it.
        (renewal,) = api.sent("json_patch")
        assert renewal.timeout <= 11
        answer.set()
        await chores.settle()

    asyncio.run(main())
