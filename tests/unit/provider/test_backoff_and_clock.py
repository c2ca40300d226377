import random

import pytest
from taskmill.provider.backoff import Backoff, claim_delay
from taskmill.provider.lease_clock import LeaseClock, renew_interval, safety_margin


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
    ("duration", "interval", "margin"), [(5, 1, 1.0), (15, 5, 3.0), (30, 10, 6.0)]
)
def test_interval_and_margin(duration: int, interval: int, margin: float) -> None:
    assert renew_interval(duration) == interval
    assert safety_margin(duration) == margin


def test_renewal_due_and_own_deadline() -> None:
    clock = LeaseClock.start(15, 5, sent_at=100.0)
    table = [(104.9, False, False), (105.0, True, False), (111.9, True, False), (112.0, True, True)]
    for now, due, expired in table:
        assert (clock.renewal_due(now), clock.expired(now)) == (due, expired), now


def test_renewal_moves_the_deadline_but_never_back() -> None:
    clock = LeaseClock.start(15, 5, sent_at=100.0)
    clock.renewed(sent_at=110.0)
    assert not clock.expired(121.9)
    assert clock.expired(122.0)
    clock.renewed(sent_at=105.0)  # an older renewal answered late
    assert clock.expired(122.0)
