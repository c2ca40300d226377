"""Jobs edited or re-created while their Tasks exist: the split stays fixed, ownership is
by uid, predecessors are latched. Nothing reports success for unfinished work."""

import subprocess

from taskmill.api import BatchJob, Condition, Task
from tests.harness import Cluster, wait_for
from tests.integration.leasing import LeaseDriver
from tests.integration.operator.conftest import OperatorFactory

TIMEOUT = 60


def _condition(driver: LeaseDriver, job: str, type: str, status: str = "True") -> BatchJob | None:
    found = driver.job(job)
    if found is None:
        return None
    condition = _find(found.status.conditions, type)
    return found if condition is not None and condition.status == status else None


def _find(conditions: list[Condition], type: str) -> Condition | None:
    return next((c for c in conditions if c.type == type), None)


def _phase(driver: LeaseDriver, job: str, phase: str) -> BatchJob | None:
    found = driver.job(job)
    return found if found is not None and found.status.phase == phase else None


def test_shrinking_items_after_some_succeeded_never_reports_success(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    """Admission cannot see inside untyped items, so the edit is accepted; the operator
    keeps the split it started with and keeps counting all 8 tasks."""
    driver.create_job("shrink", {"capability": "echo", "items": list(range(8))})
    wait_for(lambda: len(driver.tasks("shrink")) == 8, timeout=TIMEOUT, what="8 tasks")
    held = driver.claim_pending("shrink", duration=60)
    assert len(held) == 8
    for lease in held[:4]:
        assert driver.complete(lease)
    driver.patch_job("shrink", {"items": [0, 1, 2, 3]})

    job = wait_for(
        lambda: _condition(driver, "shrink", "SplitChanged"), timeout=TIMEOUT, what="SplitChanged"
    )
    assert job.status.phase == "Running"
    assert (job.status.counts.total, job.status.counts.succeeded) == (8, 4)
    assert job.status.progress == "4/8"
    assert job.status.split is not None
    assert job.status.split.total == 8
    message = _find(job.status.conditions, "SplitChanged")
    assert message is not None
    assert "create a BatchJob under a new name" in message.message

    for lease in held[4:]:
        assert driver.complete(lease)
    done = wait_for(lambda: _phase(driver, "shrink", "Succeeded"), timeout=TIMEOUT, what="success")
    assert done.status.progress == "8/8"


def test_a_split_change_that_strands_uncreated_tasks_fails_the_job_and_stops_its_work(
    driver: LeaseDriver, start_operator: OperatorFactory
) -> None:
    """With only 2 of 6 Tasks created, the other 4 cannot be made from the edited items:
    the job fails, its running task is told to stop and its Pending one is withdrawn."""
    start_operator("--max-live-tasks", "2")
    driver.create_job("stranded", {"capability": "echo", "items": list(range(6))})
    wait_for(lambda: len(driver.tasks("stranded")) == 2, timeout=TIMEOUT, what="2 tasks")
    held = driver.claim_pending("stranded", limit=1, duration=60)[0]
    driver.patch_job("stranded", {"items": [9, 9, 9, 9, 9, 9]})

    job = wait_for(lambda: _phase(driver, "stranded", "Failed"), timeout=TIMEOUT, what="Failed")
    accepted = _find(job.status.conditions, "Accepted")
    assert accepted is not None
    assert (accepted.status, accepted.reason) == ("False", "SplitChanged")

    running = wait_for(
        lambda: t if (t := driver.task(held.name)).spec.cancel else None,
        timeout=TIMEOUT,
        what="cancel of the running task",
    )
    assert running.spec.cancel_reason == "JobFailed"
    wait_for(
        lambda: [t.status.phase for t in driver.tasks("stranded")] == ["Running", "Cancelled"],
        timeout=TIMEOUT,
        what="the Pending task withdrawn",
    )
    assert driver.acknowledge_cancel(held)
    wait_for(
        lambda: [t.status.phase for t in driver.tasks("stranded")] == ["Cancelled"] * 2,
        timeout=TIMEOUT,
        what="the acknowledged task cancelled",
    )


def _wait_until_the_garbage_collector_follows_tasks(cluster: Cluster, driver: LeaseDriver) -> None:
    """Orphaning is the garbage collector's work, and it notices new kinds only at its next
    discovery sync: until then it lets an owner go without orphaning (and later deletes)
    its dependents. It follows Tasks once it deletes the Task of a deleted job."""
    driver.create_job("probe", {"capability": "echo", "items": [1]})
    wait_for(lambda: driver.tasks("probe"), timeout=TIMEOUT, what="the probe's task")
    cluster.kubectl("delete", "batchjob", "probe", "-n", driver.namespace)
    wait_for(lambda: not driver.tasks("probe"), timeout=TIMEOUT, what="the GC following Tasks")


def test_a_job_recreated_over_orphaned_tasks_neither_adopts_nor_counts_them(
    cluster: Cluster, driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    """`kubectl delete --cascade=orphan` leaves the Tasks, with their names; the job applied
    again under the same name must run its own Tasks, not count the earlier job's."""
    _wait_until_the_garbage_collector_follows_tasks(cluster, driver)
    driver.create_job("again", {"capability": "echo", "items": [1, 2, 3]})
    wait_for(lambda: len(driver.tasks("again")) == 3, timeout=TIMEOUT, what="3 tasks")
    assert driver.run_to_completion("again", limit=2) == 2
    wait_for(
        lambda: (j := driver.job("again")) is not None and j.status.progress == "2/3",
        timeout=TIMEOUT,
        what="2/3",
    )
    cluster.kubectl("delete", "batchjob", "again", "-n", driver.namespace, "--cascade=orphan")
    # The garbage collector drops the ownerReferences before it lets the job go.
    wait_for(lambda: driver.job("again") is None, timeout=TIMEOUT * 2, what="job orphaned")
    earlier = {t.metadata.uid for t in driver.tasks("again")}
    assert len(earlier) == 3

    driver.create_job("again", {"capability": "echo", "items": [4, 5, 6]})
    job = driver.job("again")
    assert job is not None

    def own_tasks() -> list[Task] | None:
        tasks = driver.tasks("again")
        mine = [t for t in tasks if t.metadata.controller_uid == job.metadata.uid]
        return mine if len(mine) == len(tasks) == 3 else None

    tasks = wait_for(own_tasks, timeout=TIMEOUT, what="the job's own 3 tasks")
    assert not earlier & {t.metadata.uid for t in tasks}
    assert [t.spec.params["item"] for t in tasks] == [4, 5, 6]
    assert ("BatchJob", "again", "DeletedForeignTasks") in driver.events()
    status = driver.job("again")
    assert status is not None
    assert status.status.counts.succeeded == 0

    assert driver.run_to_completion("again") == 3
    done = wait_for(lambda: _phase(driver, "again", "Succeeded"), timeout=TIMEOUT, what="success")
    assert done.status.progress == "3/3"


def test_a_met_dependency_stays_met_when_the_predecessor_is_deleted_by_its_ttl(
    driver: LeaseDriver, start_operator: OperatorFactory
) -> None:
    """With one live Task at a time, `second` still has Tasks to create after `first` is
    gone: only the latch (status.dependenciesMetTime) lets it finish."""
    start_operator("--max-live-tasks", "1")
    driver.create_job("second", {"capability": "echo", "items": [1, 2, 3], "dependsOn": ["first"]})
    driver.create_job("first", {"capability": "echo", "items": [1], "ttlSecondsAfterFinished": 0})
    wait_for(lambda: driver.run_to_completion("first"), timeout=TIMEOUT, what="first run")
    # Its TTL waits until `second` has taken in the success, then deletes it.
    wait_for(lambda: driver.job("first") is None, timeout=TIMEOUT, what="first deleted by TTL")
    second = driver.job("second")
    assert second is not None
    assert second.status.dependencies_met_time is not None
    done = 0

    def finished() -> bool:
        nonlocal done
        done += driver.run_to_completion("second")
        return done == 3

    wait_for(finished, timeout=TIMEOUT, what="all 3 tasks of second")
    job = wait_for(lambda: _phase(driver, "second", "Succeeded"), timeout=TIMEOUT, what="success")
    assert job.status.normalized_status == "Success"
