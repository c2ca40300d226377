"""list_watch driven by recorded list answers and event sequences."""

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from taskmill.provider.candidates import CandidateSet
from taskmill.provider.watch import Selector, list_watch

from taskmill.kube import GoneError, WatchEvent
from tests.unit.provider.tasks import task_obj

SELECTOR = Selector("/tasks", label_selector="taskmill.io/capability in (cap)", field_selector="f")


def page(items: list[dict[str, Any]], rv: str, cont: str = "") -> dict[str, Any]:
    return {"items": items, "metadata": {"resourceVersion": rv, "continue": cont}}


def ev(event_type: str, obj: dict[str, Any]) -> WatchEvent:
    return WatchEvent(event_type, obj)


def bookmark(rv: str) -> WatchEvent:
    return WatchEvent("BOOKMARK", {"kind": "Task", "metadata": {"resourceVersion": rv}})


class Recorded:
    """Answers lists and watches from scripts; each watch script is a list of events,
    optionally ending with an exception. Records every request."""

    def __init__(self, lists: list[dict[str, Any]], watches: list[list[Any]]) -> None:
        self.lists = lists
        self.watches = watches
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.exhausted = asyncio.Event()

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]:
        self.requests.append(("list", params))
        return self.lists.pop(0)

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
        if not self.watches:
            self.exhausted.set()
            await asyncio.Event().wait()
        for item in self.watches.pop(0):
            if isinstance(item, Exception):
                raise item
            yield item


def run(client: Recorded, cache: CandidateSet) -> int:
    changes = 0

    def changed() -> None:
        nonlocal changes
        changes += 1

    async def main() -> None:
        task = asyncio.create_task(
            list_watch(client, SELECTOR, cache, on_change=changed, rng=random.Random(0))
        )
        await asyncio.wait_for(client.exhausted.wait(), 5)
        task.cancel()

    asyncio.run(main())
    return changes


def test_list_then_watch_applies_events_and_resumes_from_the_last_version() -> None:
    client = Recorded(
        lists=[page([task_obj("a", resource_version="10")], "10")],
        watches=[
            [ev("ADDED", task_obj("b", resource_version="11")), bookmark("15")],  # server closes
            [ev("DELETED", task_obj("a", resource_version="16"))],
        ],
    )
    cache = CandidateSet(["cap"])
    changes = run(client, cache)

    assert ("a" in cache, "b" in cache) == (False, True)
    assert [(kind, p.get("resourceVersion")) for kind, p in client.requests] == [
        ("list", None),
        ("watch", "10"),
        ("watch", "15"),  # resumed from the bookmark
        ("watch", "16"),
    ]
    assert changes == 3  # the list and two events; bookmarks change nothing
    assert client.requests[1][1]["labelSelector"] == "taskmill.io/capability in (cap)"
    assert client.requests[1][1]["fieldSelector"] == "f"


def test_gone_relists_and_replaces_the_cache() -> None:
    client = Recorded(
        lists=[
            page([task_obj("a"), task_obj("b")], "10"),
            page([task_obj("b"), task_obj("c")], "50"),
        ],
        watches=[
            [ev("ADDED", task_obj("d", resource_version="12")), GoneError(410, "Expired", "")],
            [],
        ],
    )
    cache = CandidateSet(["cap"])
    run(client, cache)

    assert sorted(n for n in "abcd" if n in cache) == ["b", "c"]
    assert [(kind, p.get("resourceVersion")) for kind, p in client.requests] == [
        ("list", None),
        ("watch", "10"),
        ("list", None),
        ("watch", "50"),
        ("watch", "50"),
    ]


def test_list_follows_continue_tokens() -> None:
    client = Recorded(
        lists=[page([task_obj("a")], "7", cont="tok"), page([task_obj("b")], "7")],
        watches=[],
    )
    cache = CandidateSet(["cap"])
    run(client, cache)
    assert len(cache) == 2
    assert client.requests[1] == ("list", {**SELECTOR.params(), "limit": "500", "continue": "tok"})
