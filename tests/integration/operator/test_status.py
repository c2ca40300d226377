"""BatchJob status: counts, phase, conditions and normalized status as tasks progress."""

import json
import subprocess
from pathlib import Path

from tests.harness import Cluster, wait_for
from tests.integration.leasing import LeaseDriver
from tests.integration.operator.conftest import OperatorFactory

TIMEOUT = 60


def _condition(driver: LeaseDriver, job: str, type: str) -> str | None:
    bj = driver.job(job)
    assert bj is not None
    return next((c.status for c in bj.status.conditions if c.type == type), None)


def test_status_progresses_to_success_and_kubectl_wait_sees_it(
    cluster: Cluster, namespace: str, driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job("five", {"capability": "echo", "items": [1, 2, 3, 4, 5]})

    def waiting() -> bool:
        """Observed by the operator (a new job reads Waiting before that too)."""
        bj = driver.job("five")
        return (
            bj is not None
            and bj.status.observed_generation == bj.metadata.generation
            and bj.status.normalized_status == "Waiting"
        )

    wait_for(waiting, timeout=TIMEOUT, what="Waiting")
    bj = driver.job("five")
    assert bj is not None
    assert bj.status.counts.total == 5
    assert bj.status.counts.pending == 5
    assert bj.status.observed_generation == bj.metadata.generation
    assert _condition(driver, "five", "Accepted") == "True"
    assert _condition(driver, "five", "Reconciling") == "True"

    held = wait_for(lambda: driver.claim_pending("five", limit=2), timeout=TIMEOUT, what="claims")

    def running() -> bool:
        bj = driver.job("five")
        return bj is not None and bj.status.normalized_status == "Running"

    wait_for(running, timeout=TIMEOUT, what="Running")
    bj = driver.job("five")
    assert bj is not None
    assert bj.status.phase == "Running"
    assert bj.status.counts.leased == len(held)
    assert bj.status.start_time is not None

    for h in held:
        assert driver.complete(h)
    wait_for(
        lambda: (
            driver.run_to_completion("five") == 0
            and not driver.tasks("five", "Pending")
            and len([t for t in driver.tasks("five") if t.status.phase == "Succeeded"]) == 5
        ),
        timeout=TIMEOUT,
        what="all tasks done",
    )
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Complete", "batchjob/five", "--timeout=30s"
    )
    bj = driver.job("five")
    assert bj is not None
    assert bj.status.phase == "Succeeded"
    assert bj.status.normalized_status == "Success"
    assert bj.status.progress == "5/5"
    assert bj.status.counts.succeeded == 5
    assert bj.status.completion_time is not None
    assert _condition(driver, "five", "Ready") == "True"
    assert _condition(driver, "five", "Reconciling") == "False"
    assert all(c.observed_generation == bj.metadata.generation for c in bj.status.conditions)
    printed = cluster.kubectl("get", "-n", namespace, "batchjob", "five").stdout
    assert "Success" in printed
    assert "5/5" in printed


def test_all_namespaces_operator_runs_a_job_and_logs_json(
    driver: LeaseDriver, start_operator: OperatorFactory, tmp_path: Path
) -> None:
    start_operator("--log-format", "json", all_namespaces=True, identity="clusterwide")
    driver.create_job("anywhere", {"capability": "echo", "items": [1, 2]})

    def succeeded() -> bool:
        driver.run_to_completion("anywhere")
        job = driver.job("anywhere")
        return job is not None and job.status.phase == "Succeeded"

    wait_for(succeeded, timeout=TIMEOUT, what="job Succeeded")
    lines = (tmp_path / "clusterwide.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert any(e["msg"] == "became leader" and e["identity"] == "clusterwide" for e in entries)
