import random

import pytest
from taskmill.provider.backoff import claim_delay
from taskmill.provider.lease_clock import (
    LeaseClock,
    LeaseTiming,
    PresenceRenewals,
    kill_grace_fits,
    shortest_lease,
)

from taskmill.kube.backoff import Backoff


def test_backoff_doubles_and_caps_with_bounded_jitter() -> None:
    b = Backoff(base=0.1, cap=1.0, jitter=0.5)
    rng = random.Random(3)
    for failures, raw in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        d = b.delay(failures, rng)
        assert raw <= d <= raw * 1.5
    assert b.delay(0, rng) == 0.0


def test_backoff_jitter_spreads_delays() -> None:
    rng = random.Random(7)
    delays = {round(Backoff(base=1, cap=10).delay(3, rng), 6) for _ in range(20)}
    assert len(delays) == 20


@pytest.mark.parametrize(("losses", "waits"), [(0, False), (1, False), (2, False), (3, True)])
def test_claim_losses_move_on_at_once_then_back_off(losses: int, waits: bool) -> None:
    assert (claim_delay(losses, random.Random(0)) > 0) is waits


@pytest.mark.parametrize(
    ("duration", "kill_grace", "interval", "margin", "effective_kill_grace"),
    [
        (5, 2, 1, 3.0, 2),
        (5, 5, 1, 3.0, 2),  # a task's shorter lease: the kill grace shrinks to fit
        (15, 5, 4, 6.5, 5),  # renewed more often, so a failed renewal can be retried
        (15, 0, 5, 1.5, 0),
        (30, 5, 10, 8.0, 5),
    ],
)
def test_the_margin_covers_the_kill_grace(
    duration: int, kill_grace: float, interval: int, margin: float, effective_kill_grace: float
) -> None:
    timing = LeaseTiming.of(duration, kill_grace)
    assert (timing.interval, timing.margin, timing.kill_grace) == (
        interval,
        margin,
        effective_kill_grace,
    )
    assert duration - timing.margin >= 2 * timing.interval  # two renewals before giving up


@pytest.mark.parametrize(
    ("duration", "kill_grace", "fits"),
    [(5, 2, True), (5, 2.5, False), (15, 5, True), (7, 5, False)],
)
def test_kill_grace_fits(duration: int, kill_grace: float, fits: bool) -> None:
    assert kill_grace_fits(duration, kill_grace) is fits


def test_shortest_lease() -> None:
    assert [shortest_lease(k) for k in (0, 2, 5, 30)] == [3, 5, 8, 36]


def test_renewal_due_and_own_deadline() -> None:
    clock = LeaseClock.start(LeaseTiming.of(15, 0), sent_at=100.0)  # margin 1.5
    table = [(104.9, False, False), (105.0, True, False), (113.4, True, False), (113.5, True, True)]
    for now, due, expired in table:
        assert (clock.renewal_due(now, progress=False), clock.expired(now)) == (due, expired), now


@pytest.mark.parametrize(
    ("now", "progress", "presence_renewed", "due", "expired"),
    [
        # Claimed at 100 on a presence renewed at 98: the deadline runs from 98.
        (104.9, True, 98.0, False, False),
        (105.0, False, 98.0, False, False),  # no per-task renewal, ever
        (105.0, True, 98.0, True, False),  # progress, at most once per interval
        (111.4, False, 98.0, False, False),
        (111.5, False, 98.0, False, True),  # the presence renewal lapsed: stop
        # Presence renewals keep it, however long the task runs without a write.
        (1000.0, False, 995.0, False, False),
        (1008.5, False, 995.0, False, True),
    ],
)
def test_a_lease_bound_to_presence_lives_by_its_renewals(
    now: float, progress: bool, presence_renewed: float, due: bool, expired: bool
) -> None:
    presence = PresenceRenewals("i-1")
    presence.renewed(presence_renewed)
    clock = LeaseClock.start(LeaseTiming.of(15, 0), sent_at=100.0, presence=presence)
    assert clock.renewal_due(now, progress) is due
    assert clock.expired(now) is expired


def test_a_bound_lease_is_not_extended_by_its_own_writes() -> None:
    """The operator ends every bound lease when the presence Lease lapses, so a progress
    write must not move the holder's deadline past that."""
    presence = PresenceRenewals("i-1", last_renewed=100.0)
    clock = LeaseClock.start(LeaseTiming.of(15, 0), sent_at=100.0, presence=presence)
    clock.renewed(sent_at=110.0)
    assert clock.expired(113.5)
    assert not clock.renewal_due(114.0, progress=True)  # rate-limited from the last write


def test_renewal_moves_the_deadline_but_never_back() -> None:
    clock = LeaseClock.start(LeaseTiming.of(15, 0), sent_at=100.0)
    clock.renewed(sent_at=110.0)
    assert not clock.expired(123.4)
    assert clock.expired(123.5)
    clock.renewed(sent_at=105.0)  # an older renewal answered late
    assert clock.expired(123.5)
