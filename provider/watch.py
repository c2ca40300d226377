"""List once, then watch from the list's resourceVersion, for as long as the provider runs.

A watch the server closes (timeout, apiserver restart) resumes from the last
resourceVersion seen, bookmarks included; a 410 Gone means that version is too old,
so the cache is rebuilt from a fresh list. Nothing here polls: an idle provider's
only traffic is the open watch and, every few minutes, its renewal.
"""

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from taskmill.provider.backoff import RETRY_BACKOFF

from taskmill.kube import ApiError, GoneError, WatchEvent

log = logging.getLogger(__name__)

LIST_PAGE = 500
# Server-side watch timeouts are spread so that many providers do not re-watch at once.
WATCH_TIMEOUT_RANGE = (240, 360)


class Cache(Protocol):
    def replace(self, objects: list[dict[str, Any]]) -> None: ...
    def apply(self, event_type: str, obj: dict[str, Any]) -> None: ...


class Client(Protocol):
    """The two calls of taskmill.kube.Kube a list-watch needs."""

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]: ...

    def watch(
        self, path: str, *, resource_version: str, timeout_seconds: int = 300, **params: str
    ) -> AsyncIterator[WatchEvent]: ...


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


def resource_version_after(current: str, event: WatchEvent) -> str:
    """Every event, bookmarks included, moves the resume point forward."""
    return str(event.object.get("metadata", {}).get("resourceVersion") or current)


async def list_all(client: Client, selector: Selector) -> tuple[list[dict[str, Any]], str]:
    """All matching objects (paged) and the resourceVersion of the list."""
    items: list[dict[str, Any]] = []
    params = {**selector.params(), "limit": str(LIST_PAGE)}
    while True:
        body = await client.list_objects(selector.path, **params)
        items.extend(body.get("items", []))
        meta = body.get("metadata", {})
        if not meta.get("continue"):
            return items, str(meta.get("resourceVersion", ""))
        params["continue"] = meta["continue"]


async def list_watch(
    client: Client,
    selector: Selector,
    cache: Cache,
    *,
    on_change: Callable[[], None],
    rng: random.Random,
) -> None:
    """Keep `cache` in step with the selected objects until cancelled."""
    resource_version = ""
    failures = 0
    while True:
        try:
            if not resource_version:
                items, resource_version = await list_all(client, selector)
                log.info(
                    "listed %d %s at resourceVersion %s", len(items), selector, resource_version
                )
                cache.replace(items)
                on_change()
            async for event in client.watch(
                selector.path,
                resource_version=resource_version,
                timeout_seconds=rng.randint(*WATCH_TIMEOUT_RANGE),
                **selector.params(),
            ):
                resource_version = resource_version_after(resource_version, event)
                if event.type != "BOOKMARK":
                    cache.apply(event.type, event.object)
                    on_change()
                failures = 0
        except GoneError:
            log.info("watch of %s expired (410 Gone): listing again", selector.path)
            resource_version = ""
        except (ApiError, aiohttp.ClientError, TimeoutError, ValueError) as e:
            failures += 1
            delay = RETRY_BACKOFF.delay(failures, rng)
            log.warning("watch of %s failed (%s); retrying in %.1fs", selector.path, e, delay)
            await asyncio.sleep(delay)
