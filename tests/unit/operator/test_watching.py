"""list_then_watch: pages, then events from the list's version, and a relist after 410."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from taskmill.operator.kube import GoneError, WatchEvent
from taskmill.operator.watching import list_then_watch


def obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv}}


class FakeKube:
    def __init__(self) -> None:
        self.lists: list[dict[str, str]] = []
        self.watches: list[str] = []
        self.quiet = asyncio.Event()  # set once the third watch runs

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]:
        self.lists.append(params)
        if "continue" not in params:
            return {"items": [obj("a", "1")], "metadata": {"continue": "t", "resourceVersion": "5"}}
        return {"items": [obj("b", "2")], "metadata": {"resourceVersion": "5"}}

    def watch(self, path: str, *, resource_version: str, **params: str) -> Any:
        self.watches.append(resource_version)
        return self._events(len(self.watches))

    async def _events(self, n: int) -> AsyncIterator[WatchEvent]:
        if n == 1:
            yield WatchEvent("MODIFIED", obj("a", "6"))
            yield WatchEvent("BOOKMARK", obj("", "8"))
        elif n == 2:
            yield WatchEvent("DELETED", obj("b", "9"))
            raise GoneError(410, "Expired", "too old")
        else:
            self.quiet.set()
            await asyncio.Event().wait()  # a quiet watch
            yield WatchEvent("ADDED", obj("never", "0"))


def test_lists_pages_then_watches_from_the_listed_version_and_relists_on_410() -> None:
    kube = FakeKube()
    seen: list[tuple[str, str]] = []

    async def scenario() -> None:
        listed = asyncio.Event()
        watch = asyncio.create_task(
            list_then_watch(
                kube,  # type: ignore[arg-type]
                "/tasks",
                on_object=lambda o: seen.append(("put", o["metadata"]["name"])),
                on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])),
                listed=listed,
                labelSelector="x=y",
            )
        )
        await listed.wait()
        await asyncio.wait_for(kube.quiet.wait(), timeout=5)
        watch.cancel()

    asyncio.run(scenario())
    assert seen == [
        ("put", "a"),
        ("put", "b"),
        ("put", "a"),
        ("delete", "b"),
        ("put", "a"),
        ("put", "b"),
    ]
    assert kube.watches == ["5", "8", "5"]  # resumes from the bookmark; relists after 410
    assert kube.lists[0] == {"limit": "500", "labelSelector": "x=y"}
    assert kube.lists[1] == {"limit": "500", "labelSelector": "x=y", "continue": "t"}
