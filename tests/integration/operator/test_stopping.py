"""Stopping work: per-task timeouts, job cancel, the active deadline, suspend, parallelism."""

import subprocess

from taskmill.api import BatchJob, Task
from tests.harness import Cluster, wait_for
from tests.integration.leasing import Held, LeaseDriver
from tests.integration.operator.conftest import OperatorFactory

TIMEOUT = 60


def _job(driver: LeaseDriver, name: str) -> BatchJob:
    job = driver.job(name)
    assert job is not None
    return job


def _phases(driver: LeaseDriver, job: str) -> list[str]:
    return [
        f"{t.status.phase}/{t.status.reason}" if t.status.phase == "Held" else t.status.phase
        for t in driver.tasks(job)
    ]


def _cancel_requested(driver: LeaseDriver, name: str, reason: str) -> Task | None:
    task = driver.task(name)
    return task if task.spec.cancel and task.spec.cancel_reason == reason else None


def test_timeout_cancels_then_retries_then_fails(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job(
        "slow",
        {
            "capability": "echo",
            "items": ["t"],
            "timeoutSeconds": 2,
            "retry": {"maxAttempts": 2, "backoffSeconds": 0},
        },
    )
    held = wait_for(lambda: driver.claim_pending("slow"), timeout=TIMEOUT, what="claim")[0]
    wait_for(
        lambda: _cancel_requested(driver, held.name, "Timeout"), timeout=TIMEOUT, what="cancel"
    )
    assert driver.acknowledge_cancel(held)

    def retried() -> Task | None:
        t = driver.task(held.name)
        return t if t.status.phase == "Pending" and not t.spec.cancel else None

    task = wait_for(retried, timeout=TIMEOUT, what="retry after the timeout")
    assert task.status.attempts == 1
    assert task.status.history[-1].outcome == "Cancelled"

    again = driver.claim(task)
    assert again is not None
    wait_for(
        lambda: _cancel_requested(driver, held.name, "Timeout"), timeout=TIMEOUT, what="cancel"
    )
    assert driver.acknowledge_cancel(again)
    wait_for(lambda: _job(driver, "slow").status.phase == "Failed", timeout=TIMEOUT, what="Failed")
    task = driver.task(held.name)
    assert (task.status.phase, task.status.attempts) == ("Failed", 2)
    assert _job(driver, "slow").status.failed_tasks == [held.name]


def test_cancel_terminates_running_and_cancels_the_rest(
    driver: LeaseDriver, start_operator: OperatorFactory
) -> None:
    start_operator("--max-live-tasks", "3")
    driver.create_job("stopme", {"capability": "echo", "items": list(range(6))})
    held = wait_for(lambda: driver.claim_pending("stopme", limit=1), timeout=TIMEOUT, what="claim")[
        0
    ]
    wait_for(lambda: len(driver.tasks("stopme")) == 3, timeout=TIMEOUT, what="3 live tasks")
    driver.patch_job("stopme", {"cancel": True})
    wait_for(
        lambda: _cancel_requested(driver, held.name, "JobCancelled"), timeout=TIMEOUT, what="cancel"
    )
    wait_for(
        lambda: _phases(driver, "stopme").count("Cancelled") == 2,
        timeout=TIMEOUT,
        what="rest cancelled",
    )
    # Not Cancelled yet: the running task is still being terminated.
    wait_for(
        lambda: (lambda s: (s.phase, s.normalized_status) == ("Running", "Cancel"))(
            _job(driver, "stopme").status
        ),
        timeout=TIMEOUT,
        what="Running, normalized Cancel",
    )
    assert _job(driver, "stopme").status.phase == "Running"
    assert driver.acknowledge_cancel(held)
    wait_for(
        lambda: _job(driver, "stopme").status.phase == "Cancelled",
        timeout=TIMEOUT,
        what="job Cancelled",
    )
    job = _job(driver, "stopme")
    assert job.status.counts.cancelled == 6  # three Tasks and three never created
    assert len(driver.tasks("stopme")) == 3
    assert next(c for c in job.status.conditions if c.type == "Cancelled").status == "True"
    assert _phases(driver, "stopme") == ["Cancelled"] * 3


def test_active_deadline_terminates_and_fails_the_job(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    # The deadline runs from creation: leave time to claim on a busy machine.
    wait_for(driver.leader, timeout=TIMEOUT, what="operator leading")
    driver.create_job(
        "late",
        {
            "capability": "echo",
            "items": [1, 2],
            "deadlines": {"activeDeadlineSeconds": 10},
            "lease": {"durationSeconds": 30},
        },
    )
    held = wait_for(
        lambda: driver.claim_pending("late", limit=1, duration=30), timeout=TIMEOUT, what="claim"
    )[0]
    wait_for(
        lambda: _cancel_requested(driver, held.name, "DeadlineExceeded"),
        timeout=TIMEOUT,
        what="cancel",
    )
    assert driver.acknowledge_cancel(held)
    wait_for(lambda: _job(driver, "late").status.phase == "Failed", timeout=TIMEOUT, what="Failed")
    job = _job(driver, "late")
    failed = next(c for c in job.status.conditions if c.type == "Failed")
    assert (failed.status, failed.reason) == ("True", "DeadlineExceeded")
    wait_for(
        lambda: _phases(driver, "late") == ["Cancelled"] * 2,
        timeout=TIMEOUT,
        what="tasks cancelled",
    )


def test_suspend_holds_pending_tasks_and_resume_releases_them(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job("pause", {"capability": "echo", "items": [1, 2, 3]})
    held = wait_for(lambda: driver.claim_pending("pause", limit=1), timeout=TIMEOUT, what="claim")[
        0
    ]
    wait_for(lambda: len(driver.tasks("pause")) == 3, timeout=TIMEOUT, what="3 tasks")
    driver.patch_job("pause", {"suspend": True})
    wait_for(
        lambda: _phases(driver, "pause") == ["Running", "Held/Suspended", "Held/Suspended"],
        timeout=TIMEOUT,
        what="pending tasks held",
    )
    wait_for(
        lambda: _job(driver, "pause").status.normalized_status == "OnHold",
        timeout=TIMEOUT,
        what="OnHold",
    )
    assert driver.claim_pending("pause") == []  # invisible to providers' Pending watches
    assert driver.complete(held)  # leased tasks finish
    driver.patch_job("pause", {"suspend": False})
    wait_for(
        lambda: _phases(driver, "pause") == ["Succeeded", "Pending", "Pending"],
        timeout=TIMEOUT,
        what="resumed",
    )
    assert driver.run_to_completion("pause") == 2
    wait_for(
        lambda: _job(driver, "pause").status.phase == "Succeeded", timeout=TIMEOUT, what="done"
    )


def test_parallelism_is_never_exceeded(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job("narrow", {"capability": "echo", "items": list(range(8)), "parallelism": 2})
    peak = 0
    held: list[Held] = []

    def sample_and_work() -> bool:
        nonlocal peak
        phases = _phases(driver, "narrow")
        peak = max(peak, sum(p in ("Pending", "Leased", "Running") for p in phases))
        # Complete what was held on the previous round, then claim more: tasks stay
        # leased across samples, so a limit that ignored leases would be exceeded.
        for h in held:
            driver.complete(h)
        held[:] = driver.claim_pending("narrow")
        return phases.count("Succeeded") == 8

    wait_for(sample_and_work, timeout=TIMEOUT * 2, what="all done", interval=0.05)
    assert peak == 2


def test_lowering_parallelism_holds_excess_pending_tasks(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job("shrink", {"capability": "echo", "items": list(range(5)), "parallelism": 3})
    wait_for(
        lambda: _phases(driver, "shrink").count("Pending") == 3, timeout=TIMEOUT, what="3 pending"
    )
    driver.patch_job("shrink", {"parallelism": 1})
    wait_for(
        lambda: _phases(driver, "shrink") == ["Pending", "Held/Parallelism", "Held/Parallelism"],
        timeout=TIMEOUT,
        what="excess held",
    )
    assert driver.run_to_completion("shrink") == 1
    wait_for(
        lambda: _phases(driver, "shrink").count("Pending") == 1,
        timeout=TIMEOUT,
        what="next released",
    )


def test_a_holder_that_never_acknowledges_a_timeout_loses_its_lease(
    cluster: Cluster, driver: LeaseDriver, start_operator: OperatorFactory
) -> None:
    """The holder keeps renewing but ignores spec.cancel: after the cancel grace the operator
    ends the lease itself and counts the attempt. Both Events name the Task by uid, so
    `kubectl describe task` shows them."""
    start_operator("--cancel-grace-seconds", "3")
    driver.create_job(
        "stubborn",
        {
            "capability": "echo",
            "items": ["t"],
            "timeoutSeconds": 2,
            "retry": {"maxAttempts": 2, "backoffSeconds": 0},
        },
    )
    held = wait_for(lambda: driver.claim_pending("stubborn"), timeout=TIMEOUT, what="claim")[0]

    def lease_ended() -> Task | None:
        driver.renew(held)  # alive and renewing, never acknowledging
        task = driver.task(held.name)
        return task if task.status.lease.holder == "" else None

    task = wait_for(lease_ended, timeout=TIMEOUT, what="the operator to end the lease")
    assert task.status.attempts == 1
    assert task.status.history[-1].reason == "CancelNotAcknowledged"
    described = cluster.kubectl("describe", "task", held.name, "-n", driver.namespace).stdout
    assert "TaskTimedOut" in described, described
    assert "CancelNotAcknowledged" in described, described
