"""The observer clock: when did *this* process last see a record change?

Expiry is never judged from a timestamp another machine wrote (its clock may be
skewed). Like client-go's leader election, the operator stamps its own monotonic time
whenever the observed record changes, and a record is stale once that stamp is older
than the record's duration plus a grace. After a restart every record starts fresh,
which errs on the side of keeping a healthy holder.
"""

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Sighting:
    record: Hashable  # what was seen, e.g. (holder, epoch, renewTime)
    at: float  # the observer's monotonic time when it last changed


class ObserverClock(Generic[K]):
    def __init__(self) -> None:
        self._seen: dict[K, Sighting] = {}

    def observe(self, key: K, record: Hashable, now: float) -> None:
        """Note `record` for `key`; the stamp moves only when the record changed."""
        last = self._seen.get(key)
        if last is None or last.record != record:
            self._seen[key] = Sighting(record, now)

    def seen_at(self, key: K) -> float | None:
        last = self._seen.get(key)
        return None if last is None else last.at

    def forget(self, key: K) -> None:
        self._seen.pop(key, None)


def stale_at(seen_at: float, duration_seconds: float, grace_seconds: float) -> float:
    """The observer time after which a record seen at `seen_at` is stale."""
    return seen_at + duration_seconds + grace_seconds
