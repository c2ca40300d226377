"""Observer clocks: task leases and provider presence judged on the operator's own time."""

from typing import Any

from taskmill.operator.election import may_take
from taskmill.operator.observer import ObserverClock, stale_at
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
