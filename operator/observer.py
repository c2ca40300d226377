"""The observer clock: when did *this* process last see a record change?

Expiry is never judged from a timestamp another machine wrote (its clock may be
skewed). Like client-go's leader election, the operator stamps its own monotonic time
whenever the observed record changes, and a record is stale once that stamp is older
than the record's duration plus a grace. After a restart every record starts fresh,
which errs on the side of keeping a healthy holder.
"""

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Sighting:
    record: Hashable  # what was seen, e.g. (holder, epoch, renewTime)
    at: float  # the observer's monotonic time when it last changed


class ObserverClock(Generic[K]):
    """Sightings by key; with a Sight, a sighting counts only from the start of the
    current unbroken sight, and none counts while blind."""

    def __init__(self, sight: "Sight | None" = None) -> None:
        self._seen: dict[K, Sighting] = {}
        self._sight = sight

    def observe(self, key: K, record: Hashable, now: float) -> None:
        """Note `record` for `key`; the stamp moves only when the record changed."""
        last = self._seen.get(key)
        if last is None or last.record != record:
            self._seen[key] = Sighting(record, now)

    def seen_at(self, key: K) -> float | None:
        last = self._seen.get(key)
        if last is None or self._sight is None:
            return None if last is None else last.at
        since = self._sight.since()
        return None if since is None else max(last.at, since)

    def forget(self, key: K) -> None:
        self._seen.pop(key, None)


def stale_at(seen_at: float, duration_seconds: float, grace_seconds: float) -> float:
    """The observer time after which a record seen at `seen_at` is stale."""
    return seen_at + duration_seconds + grace_seconds


class Sight:
    """Whether the operator can see the API server now, and since when without a break.

    An observer clock can only judge a record stale while its observer is watching: a
    renewal made while the API server was stopped, or while the watch was down, reaches
    the operator late, and expiring the lease meanwhile would burn an attempt of healthy
    work. So the operator is blind while a watch it relies on is not synced, or when the
    API server has not answered it for `tolerance` seconds (the leader renews its Lease
    every few seconds, so silence that long means it cannot get through). Blind, it
    judges nothing; when it sees again, every record gets a fresh observation window
    from that moment (`since`).
    """

    def __init__(self, tolerance: float, monotonic: Callable[[], float]) -> None:
        self._tolerance = tolerance
        self._mono = monotonic
        # Called when sight returns after a break (the store then wakes held leases).
        self.on_restored: Callable[[], None] = lambda: None
        self._last_heard = -math.inf
        self._since = monotonic()
        self._unsynced: set[str] = set()

    def heard(self) -> None:
        """The API server answered, or a watch delivered something."""
        now = self._mono()
        gap = now - self._last_heard > self._tolerance
        self._last_heard = now
        if gap:
            self._restored(now)

    def watch(self, name: str, synced: bool) -> None:
        """A watch the operator relies on became synced, or stopped being."""
        if not synced:
            self._unsynced.add(name)
        elif name in self._unsynced:
            self._unsynced.discard(name)
            self._restored(self._mono())

    def _restored(self, now: float) -> None:
        self._since = now
        if self.since() is not None:
            self.on_restored()

    def since(self) -> float | None:
        """Start of the current unbroken sight; None while blind."""
        if self._unsynced or self._mono() - self._last_heard > self._tolerance:
            return None
        return self._since
