"""List once, then watch from the list's resourceVersion, for as long as the provider runs.

The loop itself is the shared reflector (taskmill.kube.reflector): resume from the last
resourceVersion after a failure, relist only on 410 Gone, backoff with jitter, events
of any size, a silent watch restarted. Nothing here polls: an idle provider's only
traffic is the open watch and, every few minutes, its renewal.
"""

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from taskmill.kube.api import ListWatch
from taskmill.kube.observer import Observer
from taskmill.kube.reflector import Reflector

log = logging.getLogger(__name__)

# The client calls a list-watch needs (taskmill.kube.Kube has them).
Client = ListWatch


class Cache(Protocol):
    def replace(self, objects: list[dict[str, Any]]) -> None: ...
    def apply(self, event_type: str, obj: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Selector:
    path: str
    label_selector: str = ""
    field_selector: str = ""

    def __str__(self) -> str:
        selectors = ",".join(s for s in (self.label_selector, self.field_selector) if s)
        return f"{self.path}?{selectors}"

    def params(self) -> dict[str, str]:
        params = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        return params


class _Replacing:
    """A relist replaces the cache whole (its pages are gathered first); watch events
    are applied one by one."""

    def __init__(self, cache: Cache, on_change: Callable[[], None]) -> None:
        self._cache = cache
        self._on_change = on_change
        self._listing: list[dict[str, Any]] = []

    def relisting(self) -> None:
        self._listing = []

    def listed(self, objects: list[dict[str, Any]]) -> None:
        self._listing.extend(objects)

    def synced(self) -> None:
        listing, self._listing = self._listing, []
        self._cache.replace(listing)
        self._on_change()

    def changed(self, event_type: str, obj: dict[str, Any]) -> None:
        self._cache.apply(event_type, obj)
        self._on_change()


async def list_watch(
    client: Client,
    selector: Selector,
    cache: Cache,
    *,
    on_change: Callable[[], None],
    rng: random.Random,
    on_sync: Callable[[bool], None] | None = None,
    observer: Observer | None = None,
) -> None:
    """Keep `cache` in step with the selected objects until cancelled; `on_sync` hears
    whether the watch is current (for readiness)."""
    reflector = Reflector(
        client,
        selector.path,
        _Replacing(cache, on_change),
        params=selector.params(),
        rng=rng,
        on_sync=on_sync,
        observer=observer,
    )
    await reflector.run()
