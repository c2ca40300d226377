"""Whole reconciler passes against the typed fake API (tests/fakes): what one pass writes
when writes fail, leases expire and jobs are cancelled. Clocks are injected."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from taskmill.operator.events import Recorder
from taskmill.operator.presence import ProviderPresence
from taskmill.operator.reconciler import RETRY_AFTER_ERROR, Reconciler, Settings
from taskmill.operator.splitting import build_task
from taskmill.operator.store import Store

from taskmill.api import BatchJob, Task
from taskmill.api.meta import LABEL_NOMINEE
from taskmill.api.protocol import timestamp
from taskmill.kube import ApiError
from taskmill.kube.paths import BATCHJOBS, EVENTS, TASKS
from tests.fakes.kube import FakeKube, on

from .builders import T0, presence_lease

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

    def __init__(self, presence: ProviderPresence | None = None, **settings: Any) -> None:
        self.kube = FakeKube()
        self.mono = 0.0
        self.wall = T0
        self.store = Store(lambda: self.mono)
        self.reconciler = Reconciler(
            self.kube,
            self.store,
            presence,
            Recorder(self.kube, "op"),
            Settings(**{"status_interval_seconds": 0.0, **settings}),
            wall=lambda: self.wall,
            monotonic=lambda: self.mono,
        )
        self.reconciler.presence_listed = True  # as the runtime sets it once listed

    def job(self, name: str = "job", **spec: Any) -> BatchJob:
        body = {
            "apiVersion": "taskmill.io/v1alpha1",
            "kind": "BatchJob",
            "metadata": {"name": name},
            "spec": {"capability": "cap", "items": [1, 2, 3, 4], **spec},
        }
        self.store.put_job(self.kube.put(BATCHJOBS.path(NS), body))
        return self.read_job(name)

    def edit_job(self, name: str = "job", **spec: Any) -> None:
        """A user's edit of the spec (same object, same uid), delivered by the watch."""
        body = self.kube.objects[BATCHJOBS.path(NS, name)]
        body["spec"].update(spec)
        body["metadata"]["generation"] += 1
        self.store.put_job(self.kube.put(BATCHJOBS.path(NS), body))

    def read_job(self, name: str = "job") -> BatchJob:
        return BatchJob.model_validate(self.kube.objects[BATCHJOBS.path(NS, name)])

    def task(self, index: int, job: str = "job", **status: Any) -> Task:
        """A Task of the job as the API server holds it, with `status` fields set."""
        body = build_task(self.read_job(job), index)
        stored = self.kube.put(TASKS.path(NS), body)
        stored["status"].update(status)
        self.store.put_task(stored)
        return self.read_task(stored["metadata"]["name"])

    def renew(self, name: str) -> None:
        """The holder renews its lease now, and the watch delivers it."""
        body = self.kube.objects[TASKS.path(NS, name)]
        body["status"]["lease"]["renewTime"] = timestamp(self.wall)
        self.store.put_task(self.kube.put(TASKS.path(NS), body))

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
    world.kube.fail(on("create", TASKS.path(NS)), QUOTA, times=None)
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

    # Still refused: no second Event.
    world.kube.fail(on("create", TASKS.path(NS)), QUOTA, times=None)
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


def test_a_silent_lease_expires_with_a_cas_on_the_renewal_judged() -> None:
    world = World()
    world.job(lease={"durationSeconds": 5})
    world.run()
    task = world.task(0, **running())
    world.later(7)  # 5 s + 1 s grace: expired

    world.run()

    expired = world.read_task("job-0")
    assert (expired.status.attempts, expired.status.phase) == (1, "Held")
    assert expired.status.history[-1].outcome == "Expired"
    assert ("Task", "job-0", "LeaseExpired") in world.events()
    # The Task's Event names its uid: `kubectl describe task` finds Events by uid.
    uids = {
        e["regarding"].get("uid")
        for e in world.kube.items(EVENTS.path(NS))
        if e["regarding"]["kind"] == "Task"
    }
    assert uids == {task.metadata.uid}


def test_a_renewal_seen_when_reading_back_saves_the_lease() -> None:
    world = World()
    world.job(lease={"durationSeconds": 5})
    world.run()
    world.task(0, **running())
    world.later(7)
    # The holder renewed, but the watch has not delivered it yet.
    stored = world.kube.objects[TASKS.path(NS, "job-0")]
    stored["status"]["lease"]["renewTime"] = timestamp(world.wall)

    world.run()

    assert world.read_task("job-0").status.lease.holder == "p"
    assert world.kube.count("json_patch", TASKS.path(NS, "job-0")) == 0


def test_timeouts_run_on_the_operators_clock_and_an_unacknowledged_cancel_ends_the_lease() -> None:
    """The holder's startTime says the attempt began an hour ago; the operator saw it start
    now, so the 10 s timeout runs from now. The holder then keeps renewing but never
    acknowledges the cancel: after the cancel grace the operator ends the lease itself."""
    world = World(cancel_grace_seconds=30.0)
    world.job(timeoutSeconds=10, lease={"durationSeconds": 5})
    world.run()
    world.task(0, **running(at=T0 - timedelta(hours=1)))
    world.run()
    assert not world.read_task("job-0").spec.cancel

    world.later(10)
    world.renew("job-0")
    world.run()
    cancelled = world.read_task("job-0")
    assert (cancelled.spec.cancel, cancelled.spec.cancel_reason) == (True, "Timeout")
    assert ("Task", "job-0", "TaskTimedOut") in world.events()

    for _ in range(6):  # renewing every 5 s, never acknowledging
        world.later(5)
        world.renew("job-0")
        world.run()

    ended = world.read_task("job-0")
    assert (ended.status.lease.holder, ended.status.attempts) == ("", 1)
    assert not ended.spec.cancel  # cleared before the task may run again
    assert ended.status.history[-1].reason == "CancelNotAcknowledged"
    assert ("BatchJob", "job", "CancelNotAcknowledged") in world.events()


def test_cancelling_a_job_stops_running_tasks_and_withdraws_the_rest() -> None:
    world = World()
    world.job()
    world.run()
    world.task(0, **running())
    world.edit_job(cancel=True)

    world.run()

    phases = [world.read_task(f"job-{i}").status.phase for i in range(4)]
    assert phases == ["Running", "Cancelled", "Cancelled", "Cancelled"]
    assert world.read_task("job-0").spec.cancel_reason == "JobCancelled"
    assert world.read_job().status.normalized_status == "Cancel"


def test_a_job_recreated_under_its_name_deletes_the_earlier_jobs_tasks_then_makes_its_own() -> None:
    world = World()
    world.job()
    world.run()
    world.task(0, phase="Succeeded")
    world.job()  # deleted (Tasks orphaned) and applied again: a new uid

    world.run()  # the earlier Tasks are not counted, and are deleted
    job = world.read_job()
    assert (job.status.counts.succeeded, job.status.counts.total) == (0, 4)
    assert condition(job, "ForeignTasks") is not None
    assert world.kube.items(TASKS.path(NS)) == []
    assert ("BatchJob", "job", "DeletedForeignTasks") in world.events()
    for i in range(4):  # the watch notices the deletions (as a relist would)
        world.store.delete_task(
            {
                "metadata": {"namespace": NS, "name": f"job-{i}"},
                "spec": {"batchJob": "job", "index": i},
            }
        )

    world.run()
    owners = {t["metadata"]["ownerReferences"][0]["uid"] for t in world.kube.items(TASKS.path(NS))}
    assert owners == {job.metadata.uid}
    assert condition(world.read_job(), "ForeignTasks") == ("False", "Resolved", "")


def test_items_shrunk_after_every_task_exists_keep_the_original_total() -> None:
    world = World()
    world.job()
    world.run()
    for i in range(2):
        world.task(i, phase="Succeeded", startTime=timestamp(T0))
    world.edit_job(items=[1, 2])

    world.run()

    job = world.read_job()
    assert job.status.phase == "Running"
    assert (job.status.counts.total, job.status.progress) == (4, "2/4")
    assert condition(job, "SplitChanged") is not None


def test_a_new_job_records_its_split_and_shows_its_total_before_its_tasks_are_created() -> None:
    world = World(max_live_tasks=100, status_interval_seconds=1.0)
    world.job(items=None, range={"end": 270})

    world.run()

    writes = [r.verb for r in world.kube.requests if r.verb in ("merge_patch", "create")]
    assert writes[0] == "merge_patch"
    first = world.kube.objects[BATCHJOBS.path(NS, "job")]
    assert first["status"]["split"]["total"] == 270
    assert writes.count("create") == 100
    job = world.read_job()
    assert (job.status.normalized_status, job.status.progress) == ("Waiting", "0/270")
    assert job.status.counts.pending == 270


def test_no_task_is_created_before_the_split_is_on_record() -> None:
    world = World()
    world.job()
    world.kube.fail(on("merge_patch", BATCHJOBS.path(NS)), ApiError(409, "Conflict", "modified"))

    world.run()  # the first status write is refused: nothing is created

    assert world.kube.count("create", TASKS.path(NS)) == 0
    assert world.read_job().status.split is not None  # the pass's own status write
    world.run()
    assert world.kube.count("create", TASKS.path(NS)) == 4


def test_succeeded_tasks_are_recorded_in_one_status_write_before_they_are_deleted() -> None:
    world = World()
    world.job(retention={"succeededTasks": "Delete"})
    world.run()  # creates the four Tasks
    for index in (0, 1):
        world.task(index, phase="Succeeded")
    world.kube.requests.clear()

    world.run()

    verbs = [(r.verb, r.path.rsplit("/", 1)[-1]) for r in world.kube.requests]
    assert verbs == [("merge_patch", "status"), ("delete", "job-0"), ("delete", "job-1")]
    job = world.read_job()
    assert (job.status.succeeded_indexes, job.status.progress) == ("0-1", "2/4")
    assert sorted(t["metadata"]["name"] for t in world.kube.items(TASKS.path(NS))) == [
        "job-2",
        "job-3",
    ]
    world.run()  # nothing recreated, nothing deleted twice
    assert world.kube.count("create", TASKS.path(NS)) == 0
    assert world.kube.count("delete") == 2


def test_nothing_is_deleted_while_the_record_is_not_written() -> None:
    world = World()
    world.job(retention={"succeededTasks": "Delete"})
    world.run()
    world.task(0, phase="Succeeded")
    world.kube.fail(on("merge_patch", BATCHJOBS.path(NS)), ApiError(409, "Conflict", "modified"))

    world.run()

    assert world.kube.count("delete") == 0
    assert world.read_job().status.succeeded_indexes == ""


def test_a_recorded_task_left_by_a_crash_is_deleted_and_counted_once() -> None:
    """The previous leader recorded index 0 and died before deleting its Task; index 1
    it recorded and deleted. A fresh store and reconciler pick up from there."""
    world = World()
    world.job(retention={"succeededTasks": "Delete"})
    body = world.kube.objects[BATCHJOBS.path(NS, "job")]
    body["status"] = {"succeededIndexes": "0-1", "split": None}
    world.store.put_job(world.kube.put(BATCHJOBS.path(NS), body))
    world.task(0, phase="Succeeded")

    world.run()

    created = sorted(r.body["metadata"]["name"] for r in world.kube.sent("create", TASKS.path(NS)))
    assert created == ["job-2", "job-3"]  # never 0 or 1 again
    assert [r.path.rsplit("/", 1)[-1] for r in world.kube.sent("delete")] == ["job-0"]
    job = world.read_job()
    assert (job.status.counts.succeeded, job.status.counts.pending) == (2, 2)


def test_kept_tasks_are_recorded_and_stay() -> None:
    world = World()
    world.job()  # four items: Auto keeps them
    world.run()
    world.task(0, phase="Succeeded")
    world.task(1, phase="Failed")

    world.run()

    job = world.read_job()
    assert (job.status.succeeded_indexes, job.status.failed_indexes) == ("0", "1")
    assert world.kube.count("delete") == 0


def test_a_failed_delete_is_retried_later() -> None:
    world = World()
    world.job(retention={"succeededTasks": "Delete"})
    world.run()
    world.task(0, phase="Succeeded")
    world.kube.fail(on("delete", TASKS.path(NS)), ApiError(500, "InternalError", "etcd"))

    assert world.run() == RETRY_AFTER_ERROR
    assert TASKS.path(NS, "job-0") in world.kube.objects

    world.run()
    assert TASKS.path(NS, "job-0") not in world.kube.objects
    assert world.read_job().status.counts.succeeded == 1


def test_an_optimistic_task_seen_only_pending_then_succeeded_counts_once() -> None:
    """A run-first write takes a Task from Pending straight to Succeeded at epoch 2: the
    operator never saw it Leased or Running, and counts and records it once."""
    world = World()
    world.job(claim="Optimistic", timeoutSeconds=5, retention={"succeededTasks": "Delete"})
    world.run()
    assert world.read_task("job-0").spec.claim == "Optimistic"
    history = [{"epoch": 1, "holder": "p", "outcome": "Succeeded", "time": timestamp(T0)}]
    lease = {"holder": "", "capabilities": [], "epoch": 2}
    world.task(0, phase="Succeeded", lease=lease, history=history, startTime=timestamp(T0))

    world.run()
    world.run()

    job = world.read_job()
    assert (job.status.counts.succeeded, job.status.counts.leased) == (1, 0)
    assert (job.status.succeeded_indexes, job.status.progress) == ("0", "1/4")
    assert job.status.start_time is not None
    assert [r.path.rsplit("/", 1)[-1] for r in world.kube.sent("delete")] == ["job-0"]


@pytest.mark.parametrize("claim", ["Optimistic", "Lease"])
def test_new_tasks_nominate_a_live_provider_to_take_them_first(claim: str) -> None:
    presence = ProviderPresence(grace_seconds=1.0)
    for holder in ("p2", "p1"):
        presence.put(presence_lease(holder, "i"), now=0.0)
    world = World(presence)
    world.job(claim=claim, timeoutSeconds=5)
    world.run()

    def nominee(name: str) -> str | None:
        labels = world.kube.objects[TASKS.path(NS, name)]["metadata"].get("labels")
        return (labels or {}).get(LABEL_NOMINEE)

    assert [nominee(f"job-{i}") for i in range(4)] == ["p1", "p2", "p1", "p2"]


def test_without_presence_tasks_are_nominated_to_nobody() -> None:
    world = World()
    world.job(claim="Optimistic", timeoutSeconds=5)
    world.run()
    tasks = world.kube.items(TASKS.path(NS))
    assert len(tasks) == 4
    assert all(LABEL_NOMINEE not in (t["metadata"].get("labels") or {}) for t in tasks)


def test_new_tasks_wait_for_the_providers_to_be_listed() -> None:
    """Made before the operator knows who is live, they would be nominated to nobody and
    every provider would race for them."""
    presence = ProviderPresence(grace_seconds=1.0)
    world = World(presence)
    world.reconciler.presence_listed = False
    world.job()
    world.run()
    assert world.kube.items(TASKS.path(NS)) == []

    presence.put(presence_lease("p1", "i"), now=0.0)
    world.reconciler.presence_listed = True
    world.run()
    created = world.kube.objects[TASKS.path(NS, "job-0")]["metadata"]["labels"]
    assert created[LABEL_NOMINEE] == "p1"
