"""A scripted list/watch client for tests of what follows a collection (the reflector,
the operator's watches, the provider's list_watch): it conforms to ListWatch.

Each list answers with the next listing (pages: lists of objects, the last one ending
the list); each watch plays the next script, whose steps are events, exceptions to
raise, or HANG (block until cancelled: a silent watch). Once the scripts run out,
watches hang and `done` is set.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from taskmill.kube import WatchEvent

HANG = "hang"
Step = WatchEvent | Exception | str


def obj(name: str, rv: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}, "spec": spec}


def bookmark(rv: str) -> WatchEvent:
    return WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": rv}})


class Scripted:
    def __init__(self, listings: list[list[list[dict[str, Any]]]], scripts: list[list[Step]]):
        self.listings = listings
        self.scripts = scripts
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.done = asyncio.Event()
        self._lists = 0
        self._pages: list[list[dict[str, Any]]] = []

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]:
        self.requests.append(("list", params))
        if "continue" not in params:
            self._lists += 1
            self._pages = list(self.listings.pop(0))
        items = self._pages.pop(0)
        more = {"continue": f"page-{len(self._pages)}"} if self._pages else {}
        return {"items": items, "metadata": {"resourceVersion": f"{self._lists}00", **more}}

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        timeout_seconds: int = 300,
        on_open: Callable[[], None] | None = None,
        **params: str,
    ) -> AsyncIterator[WatchEvent]:
        self.requests.append(("watch", {"resourceVersion": resource_version, **params}))
        script = self.scripts.pop(0) if self.scripts else [HANG]
        if not self.scripts and script == [HANG]:
            self.done.set()
        for step in script:
            if isinstance(step, Exception):
                raise step
            if on_open is not None:
                on_open()
                on_open = None
            if step == HANG:
                await asyncio.Event().wait()
            assert isinstance(step, WatchEvent)
            yield step

    def watched_from(self) -> list[str]:
        return [p["resourceVersion"] for kind, p in self.requests if kind == "watch"]

    def lists(self) -> int:
        return sum(1 for kind, p in self.requests if kind == "list" and "continue" not in p)
