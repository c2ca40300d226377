"""The operator's watches: the shared reflector (taskmill.kube.reflector) feeding callbacks.

Task events are the operator's hot path (a short task makes three: created, claimed,
completed): one JSON decode and the store's small row per event. BatchJobs, Tasks and
provider Leases all come through here, so each of them resumes, relists and reports
deletions made while unwatched the same way.
"""

from collections.abc import Callable
from typing import Any

from taskmill.kube.api import ListWatch
from taskmill.kube.observer import Observer
from taskmill.kube.reflector import Reflector

Callback = Callable[[dict[str, Any]], None]


class Feed:
    """A reflector's deliveries as two callbacks: an object is there, or it is gone.

    A relist re-feeds every object, and reports what it no longer finds as deleted:
    on_delete then gets a tombstone, metadata.namespace/name plus the spec fields the
    reflector keeps.
    """

    def __init__(
        self, on_object: Callback, on_delete: Callback, on_synced: Callable[[], None]
    ) -> None:
        self._on_object = on_object
        self._on_delete = on_delete
        self._on_synced = on_synced

    def relisting(self) -> None:
        pass

    def listed(self, objects: list[dict[str, Any]]) -> None:
        for body in objects:
            self._on_object(body)

    def synced(self) -> None:
        self._on_synced()

    def changed(self, event_type: str, obj: dict[str, Any]) -> None:
        (self._on_delete if event_type == "DELETED" else self._on_object)(obj)


def reflector(
    client: ListWatch,
    path: str,
    *,
    on_object: Callback,
    on_delete: Callback,
    on_synced: Callable[[], None] = lambda: None,
    on_sync: Callable[[bool], None] | None = None,
    keep: tuple[str, ...] = (),
    observer: Observer | None = None,
    **params: str,
) -> Reflector:
    """A reflector on `path` that reports deletions made while unwatched, with `keep`.

    on_synced: a list went through; on_sync: the watch became current, or stopped being.
    """
    feed = Feed(on_object, on_delete, on_synced)
    return Reflector(
        client, path, feed, params=params, tombstones=keep, on_sync=on_sync, observer=observer
    )
