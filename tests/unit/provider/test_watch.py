"""list_watch driven by scripted list answers and event sequences (tests/fakes/scripted)."""

import asyncio
import random

from taskmill.provider.candidates import CandidateSet
from taskmill.provider.watch import Selector, list_watch

from taskmill.kube import GoneError, WatchEvent
from tests.fakes.scripted import Scripted, bookmark
from tests.unit.provider.tasks import task_obj

SELECTOR = Selector("/tasks", label_selector="taskmill.io/capability in (cap)", field_selector="f")


def run(client: Scripted, cache: CandidateSet) -> int:
    changes = 0

    def changed() -> None:
        nonlocal changes
        changes += 1

    async def main() -> None:
        task = asyncio.create_task(
            list_watch(client, SELECTOR, cache, on_change=changed, rng=random.Random(0))
        )
        await asyncio.wait_for(client.done.wait(), 5)
        task.cancel()

    asyncio.run(main())
    return changes


def test_list_then_watch_applies_events_and_resumes_from_the_last_version() -> None:
    client = Scripted(
        listings=[[[task_obj("a", resource_version="100")]]],
        scripts=[
            # The server closes each watch after its events.
            [WatchEvent("ADDED", task_obj("b", resource_version="101")), bookmark("105")],
            [WatchEvent("DELETED", task_obj("a", resource_version="106"))],
        ],
    )
    cache = CandidateSet(["cap"])
    changes = run(client, cache)

    assert ("a" in cache, "b" in cache) == (False, True)
    assert [(kind, p.get("resourceVersion")) for kind, p in client.requests] == [
        ("list", None),
        ("watch", "100"),
        ("watch", "105"),  # resumed from the bookmark
        ("watch", "106"),
    ]
    assert changes == 3  # the list and two events; bookmarks change nothing
    assert client.requests[1][1]["labelSelector"] == "taskmill.io/capability in (cap)"
    assert client.requests[1][1]["fieldSelector"] == "f"


def test_gone_relists_and_replaces_the_cache() -> None:
    client = Scripted(
        listings=[[[task_obj("a"), task_obj("b")]], [[task_obj("b"), task_obj("c")]]],
        scripts=[
            [
                WatchEvent("ADDED", task_obj("d", resource_version="101")),
                GoneError(410, "Expired", ""),
            ],
            [],
        ],
    )
    cache = CandidateSet(["cap"])
    run(client, cache)

    assert sorted(n for n in "abcd" if n in cache) == ["b", "c"]
    assert [(kind, p.get("resourceVersion")) for kind, p in client.requests] == [
        ("list", None),
        ("watch", "100"),
        ("list", None),
        ("watch", "200"),
        ("watch", "200"),
    ]


def test_list_follows_continue_tokens() -> None:
    client = Scripted(listings=[[[task_obj("a")], [task_obj("b")]]], scripts=[])
    cache = CandidateSet(["cap"])
    run(client, cache)
    assert len(cache) == 2
    page_2 = {**SELECTOR.params(), "limit": "500", "continue": "page-1"}
    assert client.requests[1] == ("list", page_2)
