"""Whole reconciler passes against the typed fake API (tests/fakes): what one pass writes
when writes fail, leases expire and jobs are cancelled. Clocks are injected."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

from taskmill.operator.events import Recorder
from taskmill.operator.reconciler import Reconciler, Settings
from taskmill.operator.splitting import build_task
from taskmill.operator.store import Store

from taskmill.api import BatchJob, Task
from taskmill.api.protocol import timestamp
from taskmill.kube import ApiError
from taskmill.kube.paths import BATCHJOBS, EVENTS, TASKS
from tests.fakes.kube import FakeKube

from .builders import T0

NS = "ns"
QUOTA = ApiError(
    403,
    "Forbidden",
    'tasks.taskmill.io "job-2" is forbidden: exceeded quota: tasks, requested: '
    "count/tasks.taskmill.io=1, used: count/tasks.taskmill.io=2, limited: "
    "count/tasks.taskmill.io=2",
)


class World:
    """The fake API, the operator's store fed from it (standing in for the watches), a
    reconciler, and clocks the test moves."""

    def __init__(self, **settings: Any) -> None:
        self.kube = FakeKube()
        self.mono = 0.0
        self.wall = T0
        self.store = Store(lambda: self.mono)
        self.reconciler = Reconciler(
            self.kube,
            self.store,
            None,
            Recorder(self.kube, "op"),
            Settings(**{"status_interval_seconds": 0.0, **settings}),
            wall=lambda: self.wall,
            monotonic=lambda: self.mono,
        )

    def job(self, name: str = "job", **spec: Any) -> BatchJob:
        body = {
            "apiVersion": "taskmill.io/v1alpha1",
            "kind": "BatchJob",
            "metadata": {"name": name},
            "spec": {"capability": "cap", "items": [1, 2, 3, 4], **spec},
        }
        self.store.put_job(self.kube.put(BATCHJOBS.path(NS), body))
        return self.read_job(name)

    def read_job(self, name: str = "job") -> BatchJob:
        return BatchJob.model_validate(self.kube.objects[BATCHJOBS.path(NS, name)])

    def task(self, index: int, job: str = "job", **status: Any) -> Task:
        """A Task of the job as the API server holds it, with `status` fields set."""
        body = build_task(self.read_job(job), index)
        stored = self.kube.put(TASKS.path(NS), body)
        stored["status"].update(status)
        self.store.put_task(stored)
        return self.read_task(stored["metadata"]["name"])

    def read_task(self, name: str) -> Task:
        return Task.model_validate(self.kube.objects[TASKS.path(NS, name)])

    def events(self) -> list[tuple[str, str, str]]:
        return [
            (e["regarding"]["kind"], e["regarding"]["name"], e["reason"])
            for e in self.kube.items(EVENTS.path(NS))
        ]

    def run(self, job: str = "job") -> float:
        return asyncio.run(self.reconciler.reconcile((NS, job)))

    def later(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)


def running(holder: str = "p", epoch: int = 1, at: datetime = T0) -> dict[str, Any]:
    lease = {
        "holder": holder,
        "capabilities": ["cap"],
        "epoch": epoch,
        "acquireTime": timestamp(at),
        "renewTime": timestamp(at),
        "durationSeconds": 5,
        "renewIntervalSeconds": 1,
    }
    return {"phase": "Running", "lease": lease, "startTime": timestamp(at)}


def condition(job: BatchJob, type: str) -> tuple[str, str, str] | None:
    found = next((c for c in job.status.conditions if c.type == type), None)
    return None if found is None else (found.status, found.reason, found.message)


def test_a_refused_create_leaves_the_rest_of_the_pass_running() -> None:
    """A ResourceQuota refuses the job's third Task: the silent lease of its first still
    expires, the status is written with the API server's message, and an Event says so."""
    world = World(max_live_tasks=4)
    world.job(lease={"durationSeconds": 5})
    world.run()  # records the split, creates all four
    for name in ("job-2", "job-3"):
        del world.kube.objects[TASKS.path(NS, name)]
        world.store.delete_task(
            {
                "metadata": {"namespace": NS, "name": name},
                "spec": {"batchJob": "job", "index": int(name[-1])},
            }
        )
    world.task(0, **running())
    world.kube.fail("create", TASKS.path(NS), QUOTA)
    world.later(10)  # the lease (5 s + 1 s grace) was last seen 10 s ago

    wake_in = world.run()

    assert world.kube.count("create", TASKS.path(NS)) == 4 + 1  # slow start: one refusal
    expired = world.read_task("job-0")
    assert (expired.status.attempts, expired.status.lease.holder) == (1, "")
    job = world.read_job()
    assert condition(job, "CreateFailed") == ("True", "FailedCreate", QUOTA.message)
    assert (job.status.counts.total, job.status.counts.pending) == (4, 3)
    assert ("BatchJob", "job", "FailedCreate") in world.events()
    assert wake_in <= 5.0  # creating is retried

    world.kube.fail("create", TASKS.path(NS), QUOTA)  # still refused: no second Event
    world.run()
    assert world.events().count(("BatchJob", "job", "FailedCreate")) == 1


def test_a_status_computed_from_a_stale_job_never_overwrites_a_newer_one() -> None:
    """Status writes are fenced on the resourceVersion they were computed from: a replica
    whose copy of the job is stale (it lost leadership, or its watch lags) gets a 409."""
    world = World()
    world.job()
    world.run()
    newer = world.kube.objects[BATCHJOBS.path(NS, "job")]
    newer["status"]["phase"] = "Succeeded"  # another writer got there first
    newer["metadata"]["resourceVersion"] = "999"
    world.task(0, phase="Running")  # something changes, so the stale replica writes

    assert world.run() <= 5.0  # retried once the newer version arrives
    assert world.read_job().status.phase == "Succeeded"
    assert world.kube.count("merge_patch") >= 2
