"""list_then_watch: pages, then events from the list's version, and a relist after 410
that reports what was deleted meanwhile."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from taskmill.operator.presence import ProviderPresence
from taskmill.operator.splitting import first_missing
from taskmill.operator.store import TASK_TOMBSTONE_FIELDS, Store
from taskmill.operator.watching import list_then_watch

from taskmill.api.meta import CAPABILITY_LABEL_PREFIX
from taskmill.kube import GoneError, WatchEvent


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


def task(name: str, rv: str, phase: str = "Pending") -> dict[str, Any]:
    index = int(name.rsplit("-", 1)[1])
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "spec": {"batchJob": "job", "index": index, "capability": "cap", "params": {"n": index}},
        "status": {"phase": phase, "lease": {"holder": "", "epoch": 0}},
    }


class ScriptedApi:
    """The API server: each list answers with the next listing (one page), each watch
    plays the next script; a script may end in a 410. Once scripts run out, watches stay
    quiet and `quiet` is set."""

    def __init__(self, listings: list[list[dict[str, Any]]], scripts: list[list[Any]]) -> None:
        self.listings = listings
        self.scripts = scripts
        self.quiet = asyncio.Event()
        self.lists = 0

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]:
        self.lists += 1
        return {"items": self.listings.pop(0), "metadata": {"resourceVersion": str(self.lists)}}

    async def watch(self, path: str, *, resource_version: str, **params: str) -> Any:
        if not self.scripts:
            self.quiet.set()
            await asyncio.Event().wait()
        for step in self.scripts.pop(0):
            if isinstance(step, Exception):
                raise step
            yield step


def run_until_quiet(api: ScriptedApi, on_object: Any, on_delete: Any, keep: Any) -> None:
    async def scenario() -> None:
        watch = asyncio.create_task(
            list_then_watch(
                api,  # type: ignore[arg-type]
                "/tasks",
                on_object=on_object,
                on_delete=on_delete,
                keep=keep,
            )
        )
        await asyncio.wait_for(api.quiet.wait(), timeout=5)
        watch.cancel()

    asyncio.run(scenario())


def test_a_relist_reports_objects_deleted_while_the_watch_was_gone() -> None:
    gone = GoneError(410, "Expired", "too old")
    api = ScriptedApi(
        listings=[
            [task("job-0", "1"), task("job-1", "2"), task("job-2", "3", "Succeeded")],
            [task("job-0", "6", "Running"), task("job-3", "7")],  # 1 and 2 deleted meanwhile
        ],
        scripts=[[WatchEvent("ADDED", task("job-3", "5")), gone]],
    )
    store = Store(lambda: 0.0)
    run_until_quiet(api, store.put_task, store.delete_task, TASK_TOMBSTONE_FIELDS)

    tasks = store.job_tasks(("ns", "job"), "")
    assert set(tasks.live) == {"job-0", "job-3"}
    assert (tasks.finished, tasks.indexes) == ({}, {0, 3})
    assert first_missing(tasks.indexes, 0, 4) == 1  # the lost task gets created again


def test_a_relist_reports_provider_leases_deleted_while_the_watch_was_gone() -> None:
    def lease(name: str, capability: str) -> dict[str, Any]:
        labels = {f"{CAPABILITY_LABEL_PREFIX}{capability}": "true"}
        return {
            "metadata": {"name": name, "namespace": "ns", "labels": labels},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 15},
        }

    api = ScriptedApi(
        listings=[[lease("a", "x"), lease("b", "y")], [lease("a", "x")]],
        scripts=[[GoneError(410, "Expired", "too old")]],
    )
    presence = ProviderPresence(grace_seconds=5)
    run_until_quiet(api, lambda body: presence.put(body, 0.0), presence.delete, ())

    assert presence.live_capabilities(1.0) == {"x"}
