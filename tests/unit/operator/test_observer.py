"""Observer clocks: task leases and provider presence judged on the operator's own time."""

from typing import Any

import pytest
from taskmill.operator.election import may_take
from taskmill.operator.observer import ObserverClock, Sight, stale_at
from taskmill.operator.presence import ProviderPresence


def test_stamp_moves_only_when_the_record_changes() -> None:
    clock: ObserverClock[str] = ObserverClock()
    clock.observe("t", ("p", 1, "10:00"), now=100.0)
    clock.observe("t", ("p", 1, "10:00"), now=130.0)  # same record seen again
    assert clock.seen_at("t") == 100.0
    clock.observe("t", ("p", 1, "10:05"), now=140.0)  # a renewal
    assert clock.seen_at("t") == 140.0
    clock.forget("t")
    assert clock.seen_at("t") is None
    assert stale_at(140.0, 5, 1) == 146.0


def lease(name: str, renew: str, caps: list[str], duration: int = 5) -> dict[str, Any]:
    labels = {"taskmill.io/provider": "true"}
    labels |= {f"capability.taskmill.io/{c}": "true" for c in caps}
    return {
        "metadata": {"namespace": "ns", "name": name, "labels": labels},
        "spec": {"holderIdentity": name, "renewTime": renew, "leaseDurationSeconds": duration},
    }


def test_provider_is_live_until_it_stops_renewing_for_duration_plus_grace() -> None:
    presence = ProviderPresence(grace_seconds=1)
    # A renewTime from a badly skewed clock does not matter: only our sightings do.
    presence.put(lease("a", "1999-01-01T00:00:00.000000Z", ["resize", "ocr"]), now=10.0)
    presence.put(lease("b", "x", ["ocr"], duration=20), now=10.0)
    assert presence.live_capabilities(15.9) == {"resize", "ocr"}
    assert presence.next_expiry(15.9) == 16.0
    assert presence.live_capabilities(16.0) == {"ocr"}
    presence.put(lease("a", "1999-01-01T00:00:05.000000Z", ["resize"]), now=16.5)  # renewed
    assert presence.live_capabilities(17.0) == {"resize", "ocr"}
    presence.delete(lease("b", "x", []))
    assert presence.live_capabilities(17.0) == {"resize"}
    assert presence.next_expiry(30.0) is None


def test_leader_lease_may_be_taken_only_when_free_mine_or_silent() -> None:
    assert may_take("", "me", seen_at=0, duration_seconds=15, now=1)
    assert may_take("me", "me", seen_at=0, duration_seconds=15, now=1)
    assert not may_take("other", "me", seen_at=0, duration_seconds=15, now=14.9)
    assert may_take("other", "me", seen_at=0, duration_seconds=15, now=15)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# Each step: (time, what happens) with happenings "heard", "unsynced", "synced", or
# "check"; then what `since()` answers at that moment (None: blind).
SIGHT_CASES = {
    "blind until the API server answers and the watch is synced": [
        (1.0, "check", None),
        (1.0, "heard", None),  # the watch is not synced yet
        (2.0, "synced", 2.0),
        (3.5, "check", 2.0),
    ],
    "silence past the tolerance blinds; the next answer starts a new window": [
        (0.0, "synced", None),
        (0.0, "heard", 0.0),
        (2.0, "heard", 0.0),  # within the 3 s tolerance: sight unbroken
        (5.0, "check", 0.0),
        (5.1, "check", None),  # stopped API server: nothing heard for 3.1 s
        (30.0, "heard", 30.0),  # it answers again: a fresh window
    ],
    "a watch that fails blinds until it is synced again": [
        (0.0, "synced", None),
        (0.0, "heard", 0.0),
        (1.0, "unsynced", None),
        (2.0, "heard", None),
        (2.5, "synced", 2.5),
    ],
    "a gap noticed only by the next answer still restarts the window": [
        (0.0, "synced", None),
        (0.0, "heard", 0.0),
        (20.0, "heard", 20.0),  # nobody asked in between
    ],
}


@pytest.mark.parametrize("steps", SIGHT_CASES.values(), ids=SIGHT_CASES.keys())
def test_sight(steps: list[tuple[float, str, float | None]]) -> None:
    clock = Clock()
    sight = Sight(tolerance=3.0, monotonic=clock)
    sight.watch("tasks", False)
    restored: list[float] = []
    sight.on_restored = lambda: restored.append(clock.now)
    for at, happening, since in steps:
        clock.now = at
        if happening == "heard":
            sight.heard()
        elif happening in ("synced", "unsynced"):
            sight.watch("tasks", happening == "synced")
        assert sight.since() == since, (at, happening)
    starts = sorted({s for _, _, s in steps if s is not None})
    assert sorted(set(restored)) == starts  # the store is woken at each new window


def test_leases_expire_only_on_unbroken_sight_and_get_a_fresh_window_after_a_break() -> None:
    clock = Clock()
    sight = Sight(tolerance=3.0, monotonic=clock)
    sight.heard()
    leases: ObserverClock[str] = ObserverClock(sight)
    leases.observe("t", ("p", 1, "10:00"), now=0.0)
    clock.now = 2.0
    sight.heard()
    assert leases.seen_at("t") == 0.0  # seen while the sight was unbroken
    clock.now = 5.5  # API server stopped at 2.5: no answer since 2.0
    assert leases.seen_at("t") is None  # blind: judge nothing, whatever was seen
    clock.now = 40.0  # it answers again, 35 s later; the lease's renewals are still in flight
    sight.heard()
    assert leases.seen_at("t") == 40.0  # a fresh window from now, not a 40 s old sighting
    assert stale_at(leases.seen_at("t") or 0, 5, 1) == 46.0


def test_without_a_sight_the_clock_is_unchanged() -> None:
    leases: ObserverClock[str] = ObserverClock()
    leases.observe("t", "r", now=1.0)
    assert leases.seen_at("t") == 1.0


def test_a_provider_is_lost_when_its_presence_lapses_within_unbroken_sight() -> None:
    clock = Clock()
    sight = Sight(tolerance=3.0, monotonic=clock)
    sight.watch("tasks", True)
    presence = ProviderPresence(grace_seconds=1, sight=sight)
    presence.put(lease("taskmill-provider-a", "t0", ["ocr"]), now=10.0)
    clock.now = 10.0
    sight.heard()
    assert not presence.lost("ns", "a", 15.9)
    assert not presence.lost("ns", "never-announced", 99.0)
    clock.now = 12.0
    sight.heard()  # within the tolerance: sight unbroken since 10
    assert presence.lost("ns", "a", 16.0)  # 10 + 5 + 1
    assert presence.lost_providers(16.0) == {("ns", "a")}
    clock.now = 20.0  # nothing heard for 8 s: blind, so nothing is judged lost
    assert not presence.lost("ns", "a", 20.0)
    sight.heard()  # sight returns at 20: the lapse counts from then
    assert not presence.lost("ns", "a", 25.9)
    assert presence.lost("ns", "a", 26.0)
