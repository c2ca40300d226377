"""Lease expiry on the operator's clock: reassignment, attempts, history, exhaustion."""

import subprocess

from tests.harness import wait_for
from tests.integration.leasing import LeaseDriver

TIMEOUT = 60


def test_silent_holder_expires_then_task_is_reassigned_and_finally_fails(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job(
        "flaky",
        {
            "capability": "echo",
            "items": ["only"],
            "lease": {"durationSeconds": 5},
            "retry": {"maxAttempts": 2, "backoffSeconds": 1},
        },
    )
    first = wait_for(lambda: driver.claim_pending("flaky"), timeout=TIMEOUT, what="claim")[0]
    assert first.fence.epoch == 1
    # Renewing keeps it: one renewal after most of the duration has passed.
    task = driver.task(first.name)
    assert task.status.phase == "Running"

    # Go silent: the operator must expire the lease, count an attempt, back off, release.
    def released() -> bool:
        t = driver.task(first.name)
        return t.status.phase == "Pending" and t.status.attempts == 1

    wait_for(released, timeout=TIMEOUT, what="expired lease released after backoff")
    task = driver.task(first.name)
    assert task.status.lease.holder == ""
    assert task.status.lease.epoch == 2
    assert [(h.epoch, h.holder, h.outcome) for h in task.status.history] == [
        (1, "test-provider", "Expired")
    ]
    # The old holder's fenced writes now fail.
    assert not driver.renew(first)
    assert not driver.complete(first)

    second = driver.claim(task)
    assert second is not None
    assert second.fence.epoch == 3

    def failed() -> bool:
        bj = driver.job("flaky")
        return bj is not None and bj.status.phase == "Failed"

    wait_for(failed, timeout=TIMEOUT, what="job Failed after attempts are used up")
    task = driver.task(first.name)
    assert task.status.phase == "Failed"
    assert task.status.attempts == 2
    bj = driver.job("flaky")
    assert bj is not None
    assert bj.status.failed_tasks == [first.name]
    assert bj.status.normalized_status == "Failure"
    assert bj.status.counts.failed == 1
    driver.wait_event("Task", first.name, "LeaseExpired")
    driver.wait_event("BatchJob", "flaky", "LeaseExpired")


def test_renewed_lease_is_not_expired(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job(
        "steady", {"capability": "echo", "items": ["x"], "lease": {"durationSeconds": 5}}
    )
    held = wait_for(lambda: driver.claim_pending("steady"), timeout=TIMEOUT, what="claim")[0]
    renewals = 0

    def renewed_past_two_durations() -> bool:
        nonlocal renewals
        assert driver.renew(held), "lease lost although renewed"
        renewals += 1
        return renewals >= 40  # 40 x 0.3 s = 12 s > 5 s + 1 s grace, twice

    wait_for(renewed_past_two_durations, timeout=TIMEOUT, what="renewals", interval=0.3)
    assert driver.complete(held)
    assert driver.task(held.name).status.attempts == 0
