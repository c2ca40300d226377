"""Splitting a BatchJob into Tasks: names, params, ownership, labels, idempotence."""

import subprocess

from tests.harness import wait_for
from tests.integration.leasing import LeaseDriver
from tests.integration.operator.conftest import OperatorFactory

TIMEOUT = 60


def _all_created(driver: LeaseDriver, job: str, n: int) -> bool:
    return len(driver.tasks(job)) == n


def test_explicit_tasks_merge_params_and_override(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job(
        "explicit",
        {
            "capability": "echo",
            "priority": 3,
            "params": {"shared": 1, "x": "job"},
            "tasks": [
                {"name": "a", "params": {"x": "a"}},
                {"name": "b", "capability": "other", "priority": 9},
            ],
            "retry": {"maxAttempts": 2, "backoffSeconds": 0},
            "lease": {"durationSeconds": 7},
            "timeoutSeconds": 30,
        },
    )
    wait_for(lambda: _all_created(driver, "explicit", 2), timeout=TIMEOUT, what="2 tasks")
    job = driver.job("explicit")
    assert job is not None
    a, b = driver.tasks("explicit")
    assert (a.metadata.name, b.metadata.name) == ("explicit-0", "explicit-1")
    assert a.spec.params == {"shared": 1, "x": "a", "name": "a"}
    assert b.spec.params == {"shared": 1, "x": "job", "name": "b"}
    assert (a.spec.capability, a.spec.priority) == ("echo", 3)
    assert (b.spec.capability, b.spec.priority) == ("other", 9)
    assert b.metadata.labels == {
        "taskmill.io/batchjob": "explicit",
        "taskmill.io/capability": "other",
    }
    assert (a.spec.max_attempts, a.spec.backoff_seconds) == (2, 0)
    assert (a.spec.lease_duration_seconds, a.spec.timeout_seconds) == (7, 30)
    owner = driver.raw_tasks()[0]["metadata"]["ownerReferences"]
    assert owner == [
        {
            "apiVersion": "taskmill.io/v1alpha1",
            "kind": "BatchJob",
            "name": "explicit",
            "uid": job.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert a.status.phase == "Pending"


def test_items_and_range_with_batch_size(
    driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    driver.create_job("items", {"capability": "echo", "items": ["p", "q", "r"], "params": {"k": 1}})
    driver.create_job(
        "chunks",
        {"capability": "echo", "range": {"start": 10, "end": 17, "step": 2}, "batchSize": 3},
    )
    wait_for(lambda: _all_created(driver, "items", 3), timeout=TIMEOUT, what="3 item tasks")
    wait_for(lambda: _all_created(driver, "chunks", 2), timeout=TIMEOUT, what="2 range tasks")
    assert [t.spec.params for t in driver.tasks("items")] == [
        {"k": 1, "item": "p"},
        {"k": 1, "item": "q"},
        {"k": 1, "item": "r"},
    ]
    assert [t.spec.params for t in driver.tasks("chunks")] == [
        {"indexes": [10, 12, 14]},
        {"indexes": [16]},
    ]


def test_kill_mid_split_then_restart_leaves_no_gap_or_duplicate(
    driver: LeaseDriver, start_operator: OperatorFactory
) -> None:
    n = 400
    driver.create_job("big", {"capability": "echo", "range": {"end": n}})
    first = start_operator("--max-live-tasks", str(n))
    wait_for(lambda: len(driver.tasks("big")) >= 20, timeout=TIMEOUT, what="split under way")
    first.kill()
    first.wait()
    created_when_killed = len(driver.tasks("big"))
    start_operator("--max-live-tasks", str(n), identity="operator-restarted")
    wait_for(lambda: _all_created(driver, "big", n), timeout=TIMEOUT * 2, what=f"{n} tasks")
    tasks = driver.tasks("big")
    assert sorted(t.spec.index for t in tasks) == list(range(n))
    assert sorted(t.metadata.name for t in tasks) == sorted(f"big-{i}" for i in range(n))
    print(f"killed after {created_when_killed} of {n} tasks were created")


def test_live_tasks_are_bounded_and_finished_ones_make_room(
    driver: LeaseDriver, start_operator: OperatorFactory
) -> None:
    start_operator("--max-live-tasks", "10")
    driver.create_job("bounded", {"capability": "echo", "items": list(range(35))})
    peak = 0
    done = 0

    def progress() -> bool:
        nonlocal peak, done
        live = [t for t in driver.tasks("bounded") if t.status.phase not in ("Succeeded",)]
        peak = max(peak, len(live))
        done += driver.run_to_completion("bounded")
        return done == 35

    wait_for(progress, timeout=TIMEOUT * 2, what="all 35 tasks completed")
    assert 0 < peak <= 10
    assert len(driver.tasks("bounded")) == 35
