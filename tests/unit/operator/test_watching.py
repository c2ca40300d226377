"""The operator's reflectors feed the store: a relist after 410 reports Tasks, BatchJobs and
provider Leases deleted while the watch was gone."""

import asyncio
from typing import Any

from taskmill.operator.presence import ProviderPresence, presence_reflector
from taskmill.operator.store import TASK_TOMBSTONE_FIELDS, Store
from taskmill.operator.watching import reflector

from taskmill.api.meta import CAPABILITY_LABEL_PREFIX
from taskmill.kube import GoneError, WatchEvent
from taskmill.kube.reflector import Reflector
from tests.fakes.scripted import Scripted

GONE = GoneError(410, "Expired", "too old")


def until_done(client: Scripted, watch: Reflector) -> None:
    async def scenario() -> None:
        task = asyncio.create_task(watch.run())
        await asyncio.wait_for(client.done.wait(), timeout=5)
        task.cancel()

    asyncio.run(scenario())


def task(name: str, rv: str, phase: str = "Pending") -> dict[str, Any]:
    index = int(name.rsplit("-", 1)[1])
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "spec": {"batchJob": "job", "index": index, "capability": "cap", "params": {"n": index}},
        "status": {"phase": phase, "lease": {"holder": "", "epoch": 0}},
    }


def test_a_relist_reports_tasks_deleted_while_the_watch_was_gone() -> None:
    client = Scripted(
        listings=[
            [[task("job-0", "1"), task("job-1", "2"), task("job-2", "3", "Succeeded")]],
            [[task("job-0", "6", "Running"), task("job-3", "7")]],  # 1 and 2 deleted meanwhile
        ],
        scripts=[[WatchEvent("ADDED", task("job-3", "5")), GONE]],
    )
    store = Store(lambda: 0.0)
    watch = reflector(
        client, "/tasks", on_object=store.put_task, on_delete=store.delete_task,
        keep=TASK_TOMBSTONE_FIELDS,
    )  # fmt: skip
    until_done(client, watch)

    tasks = store.job_tasks(("ns", "job"), "")
    assert set(tasks.live) == {"job-0", "job-3"}
    assert (tasks.finished, tasks.indexes) == ({}, {0, 3})
    assert tasks.first_unmade(0, 4) == 1  # the lost task gets created again


def batchjob(name: str, rv: str) -> dict[str, Any]:
    return {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "BatchJob",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "uid": name},
        "spec": {"capability": "cap", "items": [1]},
    }


def test_a_relist_reports_batchjobs_deleted_while_the_watch_was_gone() -> None:
    # kopf, which watched BatchJobs before, sends no DELETED for these.
    client = Scripted(
        listings=[[[batchjob("a", "1"), batchjob("b", "2")]], [[batchjob("a", "1")]]],
        scripts=[[GONE]],
    )
    store = Store(lambda: 0.0)

    def deleted(body: dict[str, Any]) -> None:
        store.delete_job(body["metadata"]["namespace"], body["metadata"]["name"])

    until_done(client, reflector(client, "/batchjobs", on_object=store.put_job, on_delete=deleted))
    assert set(store.jobs) == {("ns", "a")}


def test_a_relist_reports_provider_leases_deleted_while_the_watch_was_gone() -> None:
    def lease(name: str, capability: str) -> dict[str, Any]:
        labels = {f"{CAPABILITY_LABEL_PREFIX}{capability}": "true"}
        return {
            "metadata": {"name": name, "namespace": "ns", "labels": labels},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 15},
        }

    client = Scripted(
        listings=[[[lease("a", "x"), lease("b", "y")]], [[lease("a", "x")]]], scripts=[[GONE]]
    )
    presence = ProviderPresence(grace_seconds=5)
    changes: list[None] = []
    synced: list[bool] = []
    watch = presence_reflector(
        client, "ns", presence, lambda: 0.0, lambda: changes.append(None), on_sync=synced.append
    )
    until_done(client, watch)

    assert presence.live_capabilities(1.0) == {"x"}
    # Current after the list, not once the watch is gone: the operator's sight
    # (task leases live by these renewals) follows it.
    assert synced[:2] == [True, False]
    assert client.requests[0][1]["labelSelector"] == "taskmill.io/provider=true"
    assert len(changes) == 6  # per list: each put, each deletion, and the end of the list
