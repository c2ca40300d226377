"""The reflector: resume, relist with tombstones on 410 only, backoff, Retry-After,
silent watches, `synced`."""

import asyncio
import random
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from taskmill.kube import ApiError, GoneError, WatchEvent
from taskmill.kube.backoff import Backoff
from taskmill.kube.reflector import Reflector
from tests.fakes.scripted import HANG, Scripted, bookmark, obj

GONE = GoneError(410, "Expired", "too old")


class Recorder:
    """A Handler that records what it was told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def relisting(self) -> None:
        self.seen.append(("relisting", ""))

    def listed(self, objects: list[dict[str, Any]]) -> None:
        self.seen.extend(("listed", o["metadata"]["name"]) for o in objects)

    def synced(self) -> None:
        self.seen.append(("synced", ""))

    def changed(self, event_type: str, obj: dict[str, Any]) -> None:
        self.seen.append((event_type, obj["metadata"]["name"]))


def run(
    client: Scripted,
    handler: Recorder | None = None,
    *,
    check: Callable[[Reflector], None] | None = None,
    **kwargs: Any,
) -> tuple[Reflector, list[float]]:
    """Run a reflector until the scripts are used up; returns it and the delays it slept."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    async def main() -> Reflector:
        reflector = Reflector(
            client,
            "/tasks",
            handler or Recorder(),
            params={"labelSelector": "x=y"},
            rng=random.Random(0),
            sleep=sleep,
            **kwargs,
        )
        task = asyncio.create_task(reflector.run())
        await asyncio.wait_for(client.done.wait(), 5)
        await asyncio.sleep(0)
        if check is not None:
            check(reflector)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert not reflector.synced  # a stopped reflector is not current
        return reflector

    return asyncio.run(main()), delays


def test_pages_then_events_from_the_listed_version_resuming_after_a_bookmark() -> None:
    client = Scripted(
        listings=[[[obj("a", "1")], [obj("b", "2")]]],
        scripts=[
            [WatchEvent("MODIFIED", obj("a", "101")), bookmark("108")],  # the server closes
            [WatchEvent("DELETED", obj("b", "109"))],
        ],
    )
    handler = Recorder()
    run(client, handler)
    assert handler.seen == [
        ("relisting", ""),
        ("listed", "a"),
        ("listed", "b"),
        ("synced", ""),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]
    assert client.watched_from() == ["100", "108", "109"]
    assert client.requests[0] == ("list", {"labelSelector": "x=y", "limit": "500"})
    assert client.requests[1] == (
        "list",
        {"labelSelector": "x=y", "limit": "500", "continue": "page-1"},
    )


@pytest.mark.parametrize(
    "failure",
    [
        ApiError(500, "InternalError", "etcd"),
        aiohttp.ClientConnectionError("reset"),
        TimeoutError(),
        ValueError("truncated JSON"),
    ],
)
def test_a_transient_failure_resumes_from_the_last_version_without_a_relist(
    failure: Exception,
) -> None:
    client = Scripted(
        listings=[[[obj("a", "1")]]],
        scripts=[[WatchEvent("MODIFIED", obj("a", "105")), failure], [failure], []],
    )
    _, delays = run(client)
    assert client.lists() == 1
    assert client.watched_from() == ["100", "105", "105", "105"]
    assert len(delays) == 2


def test_a_410_relists_and_reports_what_vanished_as_tombstones() -> None:
    client = Scripted(
        listings=[
            [[obj("a", "1", batchJob="j", index=0), obj("b", "2", batchJob="j", index=1)]],
            [[obj("a", "150", batchJob="j", index=0)]],  # b was deleted while unwatched
        ],
        scripts=[[WatchEvent("ADDED", obj("c", "120", batchJob="j", index=2)), GONE]],
    )
    tombstones: list[dict[str, Any]] = []

    class Keeping(Recorder):
        def changed(self, event_type: str, obj: dict[str, Any]) -> None:
            super().changed(event_type, obj)
            if event_type == "DELETED":
                tombstones.append(obj)

    handler = Keeping()
    _, delays = run(client, handler, tombstones=("batchJob", "index"))
    assert handler.seen[-5:] == [
        ("relisting", ""),
        ("listed", "a"),
        ("DELETED", "b"),
        ("DELETED", "c"),
        ("synced", ""),
    ]
    assert sorted(t["metadata"]["name"] for t in tombstones) == ["b", "c"]
    assert {
        "metadata": {"namespace": "ns", "name": "b"},
        "spec": {"batchJob": "j", "index": 1},
    } in tombstones
    assert client.watched_from() == ["100", "200"]
    assert delays == []  # a 410 is no failure: list again at once


def test_failures_back_off_exponentially_with_jitter_and_reset_after_an_event() -> None:
    down = aiohttp.ClientConnectionError("refused")
    client = Scripted(
        listings=[[[obj("a", "1")]]],
        scripts=[[down], [down], [down], [WatchEvent("MODIFIED", obj("a", "101")), down], []],
    )
    backoff = Backoff(base=1.0, cap=3.0, jitter=0.5)
    _, delays = run(client, backoff=backoff)
    # 1, 2, 4 capped at 3, then reset by the event; each plus up to half again as jitter
    for delay, raw in zip(delays, [1, 2, 3, 1], strict=True):
        assert raw <= delay <= raw * 1.5
    assert len(set(delays)) == 4  # jittered


def test_a_429_waits_at_least_the_servers_retry_after() -> None:
    busy = ApiError(429, "TooManyRequests", "slow down", retry_after=7.0)
    client = Scripted(listings=[[[obj("a", "1")]]], scripts=[[busy], []])
    _, delays = run(client)
    assert delays == [7.0]


def test_a_silent_watch_is_restarted_from_its_version() -> None:
    client = Scripted(
        listings=[[[obj("a", "1")]]],
        scripts=[[WatchEvent("MODIFIED", obj("a", "101")), HANG], []],
    )
    run(client, silence_seconds=0.05)
    assert client.watched_from() == ["100", "101", "101"]
    assert client.lists() == 1


def test_synced_once_the_watch_is_open_and_not_after_a_failure() -> None:
    down = aiohttp.ClientConnectionError("refused")
    client = Scripted(
        listings=[[[obj("a", "1")]]],
        scripts=[[down], [WatchEvent("MODIFIED", obj("a", "101")), down], []],
    )
    handler = Recorder()
    states: list[bool] = []

    async def sleep(seconds: float) -> None:
        states.append(reflector.synced)

    reflector = Reflector(client, "/tasks", handler, sleep=sleep)

    async def main() -> None:
        task = asyncio.create_task(reflector.run())
        await asyncio.wait_for(client.done.wait(), 5)
        await asyncio.sleep(0)
        states.append(reflector.synced)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        states.append(reflector.synced)

    asyncio.run(main())
    # failed before opening; failed after an event; open and quiet; stopped
    assert states == [False, False, True, False]
