"""Retention on the real API server: succeeded Tasks are recorded in status as index
ranges and then deleted; a job can keep everything; failed Tasks stay up to a bound;
a restarted operator never runs a recorded index again."""

import signal
import subprocess
from pathlib import Path

from taskmill.api import BatchJob
from tests.harness import wait_for
from tests.integration.leasing import LeaseDriver
from tests.integration.operator.conftest import OperatorFactory

TIMEOUT = 60
ITEMS = list(range(6))


def _finished(driver: LeaseDriver, name: str) -> BatchJob:
    def done() -> BatchJob | None:
        driver.run_to_completion(name)
        job = driver.job(name)
        return job if job is not None and job.status.phase in ("Succeeded", "Failed") else None

    return wait_for(done, timeout=TIMEOUT, what=f"{name} finished")


def _task_names(driver: LeaseDriver, job: str) -> list[str]:
    return [t.metadata.name for t in driver.tasks(job)]


def test_succeeded_tasks_are_recorded_then_deleted(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job(
        "pruned", {"capability": "echo", "items": ITEMS, "retention": {"succeededTasks": "Delete"}}
    )
    job = _finished(driver, "pruned")
    assert job.status.phase == "Succeeded"
    assert (job.status.succeeded_indexes, job.status.progress) == ("0-5", "6/6")
    assert job.status.counts.succeeded == 6
    wait_for(lambda: _task_names(driver, "pruned") == [], timeout=TIMEOUT, what="Tasks deleted")


def test_a_job_can_keep_every_task(driver: LeaseDriver, operator: subprocess.Popen[bytes]) -> None:
    driver.create_job(
        "kept", {"capability": "echo", "items": ITEMS, "retention": {"succeededTasks": "Keep"}}
    )
    job = _finished(driver, "kept")
    assert (job.status.phase, job.status.succeeded_indexes) == ("Succeeded", "0-5")
    assert _task_names(driver, "kept") == [f"kept-{i}" for i in ITEMS]


def test_failed_tasks_are_kept_up_to_the_bound(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job(
        "failing",
        {
            "capability": "echo",
            "items": ITEMS,
            "retry": {"maxAttempts": 1},
            "retention": {"succeededTasks": "Delete", "keepFailedTasks": 1},
        },
    )
    wait_for(lambda: len(driver.tasks("failing")) == 6, timeout=TIMEOUT, what="6 tasks")
    for index in (1, 3, 4):
        held = driver.claim(driver.task(f"failing-{index}"))
        assert held is not None
        assert driver.fail(held)
    job = _finished(driver, "failing")
    assert job.status.phase == "Failed"
    assert (job.status.succeeded_indexes, job.status.failed_indexes) == ("0,2,5", "1,3-4")
    assert (job.status.counts.succeeded, job.status.counts.failed) == (3, 3)
    # the failed Task with the lowest index stays for inspection; the rest are counted
    wait_for(
        lambda: _task_names(driver, "failing") == ["failing-1"],
        timeout=TIMEOUT,
        what="only failing-1 left",
    )
    assert driver.task("failing-1").status.result is not None


def test_a_restarted_operator_never_runs_a_recorded_index_again(
    driver: LeaseDriver, start_operator: OperatorFactory, tmp_path: Path
) -> None:
    first = start_operator(identity="operator-a")
    driver.create_job(
        "relay",
        {
            "capability": "echo",
            "items": ITEMS,
            "parallelism": 3,
            "retention": {"succeededTasks": "Delete"},
        },
    )
    seen: dict[str, set[str]] = {}  # Task name -> the uids it was ever created with

    def look() -> list[str]:
        tasks = driver.tasks("relay")
        for t in tasks:
            seen.setdefault(t.metadata.name, set()).add(t.metadata.uid)
        return [t.metadata.name for t in tasks]

    wait_for(lambda: len(look()) == 3, timeout=TIMEOUT, what="3 tasks")
    assert driver.run_to_completion("relay") == 3
    first_three = {"relay-0", "relay-1", "relay-2"}

    def recorded_and_deleted() -> bool:
        job = driver.job("relay")
        recorded = job is not None and job.status.succeeded_indexes == "0-2"
        return recorded and not first_three & set(look())

    wait_for(recorded_and_deleted, timeout=TIMEOUT, what="0-2 recorded and deleted")
    first.send_signal(signal.SIGKILL)
    first.wait()

    start_operator(identity="operator-b")
    wait_for(
        lambda: "loaded state" in (tmp_path / "operator-b.log").read_text(),
        timeout=TIMEOUT,
        what="operator-b took over",
    )

    def rest_run() -> bool:
        look()  # before the driver runs them: a recreated 0-2 would show here
        driver.run_to_completion("relay")
        job = driver.job("relay")
        return job is not None and job.status.phase == "Succeeded"

    wait_for(rest_run, timeout=TIMEOUT, what="the rest run under operator-b")
    assert sorted(seen) == sorted(f"relay-{i}" for i in ITEMS)
    assert all(len(uids) == 1 for uids in seen.values())  # each index made once
    job = driver.job("relay")
    assert job is not None
    assert (job.status.succeeded_indexes, job.status.counts.succeeded) == ("0-5", 6)
