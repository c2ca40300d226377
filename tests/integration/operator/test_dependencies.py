"""dependsOn, provider presence, ttlSecondsAfterFinished and semantic errors."""

import subprocess

from taskmill.api import BatchJob
from tests.harness import wait_for
from tests.integration.leasing import LeaseDriver

TIMEOUT = 60


def _job(driver: LeaseDriver, name: str) -> BatchJob:
    job = driver.job(name)
    assert job is not None
    return job


def _condition(job: BatchJob, type: str) -> tuple[str, str]:
    c = next(c for c in job.status.conditions if c.type == type)
    return c.status, c.reason


def test_dependent_job_is_inactive_until_its_predecessor_succeeds(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job("second", {"capability": "echo", "items": [1], "dependsOn": ["first"]})
    driver.create_job("first", {"capability": "echo", "items": [1]})
    wait_for(
        lambda: _job(driver, "second").status.normalized_status == "Inactive",
        timeout=TIMEOUT,
        what="Inactive",
    )
    wait_for(lambda: driver.run_to_completion("first"), timeout=TIMEOUT, what="first run")
    assert driver.tasks("second") == []
    wait_for(lambda: driver.run_to_completion("second"), timeout=TIMEOUT, what="second run")
    wait_for(
        lambda: _job(driver, "second").status.phase == "Succeeded", timeout=TIMEOUT, what="done"
    )


def test_failed_predecessor_fails_the_dependent_job(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job("upstream", {"capability": "echo", "items": [1], "retry": {"maxAttempts": 1}})
    driver.create_job("downstream", {"capability": "echo", "items": [1], "dependsOn": ["upstream"]})
    held = wait_for(lambda: driver.claim_pending("upstream"), timeout=TIMEOUT, what="claim")[0]
    assert driver.fail(held)
    wait_for(
        lambda: _job(driver, "downstream").status.phase == "Failed", timeout=TIMEOUT, what="Failed"
    )
    job = _job(driver, "downstream")
    assert _condition(job, "Failed") == ("True", "DependencyFailed")
    assert driver.tasks("downstream") == []


def test_dependency_cycle_is_refused(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job("ping", {"capability": "echo", "items": [1], "dependsOn": ["pong"]})
    driver.create_job("pong", {"capability": "echo", "items": [1], "dependsOn": ["ping"]})
    for name in ("ping", "pong"):

        def refused(job: str = name) -> bool:
            return _job(driver, job).status.phase == "Failed"

        wait_for(refused, timeout=TIMEOUT, what=f"{name} refused")
        job = _job(driver, name)
        assert _condition(job, "Accepted") == ("False", "DependencyCycle")
        assert "ping" in next(c for c in job.status.conditions if c.type == "Accepted").message
        assert driver.tasks(name) == []
    driver.wait_event("BatchJob", "ping", "DependencyCycle")


def test_semantic_error_is_refused_without_tasks(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    # `item` is what the split adds to each task's params: a shared param cannot use it.
    driver.create_job("clash", {"capability": "echo", "items": [1, 2], "params": {"item": 0}})
    wait_for(
        lambda: (
            _condition(_job(driver, "clash"), "Accepted")[0] == "False"
            if _job(driver, "clash").status.conditions
            else False
        ),
        timeout=TIMEOUT,
        what="Accepted=False",
    )
    job = _job(driver, "clash")
    accepted = next(c for c in job.status.conditions if c.type == "Accepted")
    assert accepted.reason == "ReservedParam"
    assert "item" in accepted.message
    assert driver.tasks("clash") == []
    driver.wait_event("BatchJob", "clash", "ReservedParam")
    assert operator.poll() is None  # bad input never stops the operator


def test_providers_available_follows_presence_leases(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job("needy", {"capability": "resize", "items": [1]})
    wait_for(
        lambda: (
            job_condition(driver, "needy", "ProvidersAvailable")
            == ("False", "NoProviderForCapability")
        ),
        timeout=TIMEOUT,
        what="no provider",
    )
    assert _job(driver, "needy").status.normalized_status == "Waiting"
    driver.wait_event("BatchJob", "needy", "NoProviderForCapability")
    driver.announce(["resize"], duration=5)
    wait_for(
        lambda: job_condition(driver, "needy", "ProvidersAvailable")[0] == "True",
        timeout=TIMEOUT,
        what="provider seen",
    )
    # Silent for longer than its duration plus grace: the provider no longer counts.
    wait_for(
        lambda: job_condition(driver, "needy", "ProvidersAvailable")[0] == "False",
        timeout=TIMEOUT,
        what="provider gone stale",
    )


def job_condition(driver: LeaseDriver, name: str, type: str) -> tuple[str, str]:
    job = _job(driver, name)
    c = next((c for c in job.status.conditions if c.type == type), None)
    return ("", "") if c is None else (c.status, c.reason)


def test_finished_job_is_deleted_after_its_ttl(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job(
        "brief", {"capability": "echo", "items": [1, 2], "ttlSecondsAfterFinished": 1}
    )
    wait_for(
        lambda: (
            driver.run_to_completion("brief") == 0
            and driver.tasks("brief")
            and all(t.status.phase == "Succeeded" for t in driver.tasks("brief"))
        ),
        timeout=TIMEOUT,
        what="tasks done",
    )
    wait_for(lambda: driver.job("brief") is None, timeout=TIMEOUT, what="job deleted")
    # The garbage collector deletes the owned Tasks (it may take a few seconds to notice).
    wait_for(lambda: driver.tasks("brief") == [], timeout=TIMEOUT, what="tasks deleted")
