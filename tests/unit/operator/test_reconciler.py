"""The reconciler's writes, in order, against a recording API (no cluster)."""

import asyncio
import copy
from typing import Any

from taskmill.operator.events import Recorder
from taskmill.operator.reconciler import Reconciler, Settings
from taskmill.operator.store import Store

from .builders import T0

JOB = {
    "apiVersion": "taskmill.io/v1alpha1",
    "kind": "BatchJob",
    "metadata": {
        "name": "big",
        "namespace": "ns",
        "uid": "u1",
        "generation": 1,
        "resourceVersion": "1",
        "creationTimestamp": "2026-01-01T12:00:00Z",
    },
    "spec": {"capability": "cap", "range": {"end": 270}},
}


class RecordingApi:
    """Accepts every write and keeps the order they came in."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, Any]] = []

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        created = copy.deepcopy(body)
        created["metadata"]["resourceVersion"] = "2"
        self.writes.append(("create", body["kind"]))
        return created

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("status", body["status"]))
        return {**JOB, "metadata": {**JOB["metadata"], "resourceVersion": "3"}, **body}


def test_a_new_job_shows_its_total_before_its_tasks_are_created() -> None:
    api = RecordingApi()
    store = Store(lambda: 0.0)
    store.put_job(JOB)
    settings = Settings(max_live_tasks=100)
    reconciler = Reconciler(
        api,  # type: ignore[arg-type]
        store,
        None,
        Recorder(api, "op"),  # type: ignore[arg-type]
        settings,
        wall=lambda: T0,
        monotonic=lambda: 0.0,
    )

    asyncio.run(reconciler.reconcile(("ns", "big")))

    kind, status = api.writes[0]
    assert kind == "status"
    assert (status["normalizedStatus"], status["progress"]) == ("Waiting", "0/270")
    assert status["counts"]["pending"] == 270
    assert [w for w in api.writes if w[0] == "create"] == [("create", "Task")] * 100
