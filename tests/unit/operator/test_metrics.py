"""The operator's metrics: Task transitions counted once, state exported from snapshots."""

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from taskmill.operator.metrics import JobState, OperatorMetrics, Snapshot, TaskTransitions
from taskmill.operator.presence import ProviderPresence

from taskmill.api import Task
from taskmill.api.common import TaskPhase
from tests.builders import make_task

KEY = ("ns", "job-0")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def task(
    phase: str, *history: tuple[int, str], started: int | None = None, ended: int | None = None
) -> Task:
    status: dict[str, Any] = {
        "phase": phase,
        "history": [
            {"epoch": e, "holder": "p", "outcome": o, "reason": "", "time": T0.isoformat()}
            for e, o in history
        ],
    }
    if started is not None:
        status["startTime"] = (T0 + timedelta(seconds=started)).isoformat()
    if ended is not None:
        status["completionTime"] = (T0 + timedelta(seconds=ended)).isoformat()
    return Task.model_validate(make_task("job-0", "cap", "job").status(**status).obj())


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_dispatch_latency_runs_from_leasable_to_leased() -> None:
    m = OperatorMetrics()
    t = TaskTransitions(m)
    t.observe(KEY, None, task("Pending"), now=10.0)
    t.observe(KEY, TaskPhase.PENDING, task("Leased"), now=10.25)

    assert value(m.registry, "taskmill_dispatch_latency_seconds_count", capability="cap") == 1
    assert value(m.registry, "taskmill_dispatch_latency_seconds_sum", capability="cap") == 0.25


def test_each_ended_attempt_counts_once_however_often_it_is_seen() -> None:
    m = OperatorMetrics()
    t = TaskTransitions(m)
    t.observe(KEY, None, task("Pending"), now=0)
    expired = task("Pending", (1, "Expired"))
    t.observe(KEY, TaskPhase.LEASED, expired, now=1)
    t.observe(KEY, TaskPhase.PENDING, expired, now=2)  # the same version again (a relist)
    failed = task("Failed", (1, "Expired"), (2, "Failed"), started=5, ended=9)
    t.observe(KEY, TaskPhase.RUNNING, failed, now=3)

    r = m.registry
    assert value(r, "taskmill_task_attempts_total", capability="cap", outcome="expired") == 1
    assert value(r, "taskmill_task_attempts_total", capability="cap", outcome="failed") == 1
    assert value(r, "taskmill_lease_expiries_total", capability="cap") == 1
    assert value(r, "taskmill_tasks_failed_total", capability="cap") == 1
    assert value(r, "taskmill_task_run_duration_seconds_sum", capability="cap") == 4


def test_what_a_restart_finds_already_happened_is_not_counted() -> None:
    m = OperatorMetrics()
    t = TaskTransitions(m)
    t.observe(KEY, None, task("Failed", (1, "Failed"), started=0, ended=3), now=0)
    t.observe(("ns", "job-1"), None, task("Running", (1, "Expired")), now=0)

    r = m.registry
    assert value(r, "taskmill_tasks_failed_total", capability="cap") == 0
    assert value(r, "taskmill_task_attempts_total", capability="cap", outcome="expired") == 0
    assert value(r, "taskmill_task_run_duration_seconds_count", capability="cap") == 0


def test_state_is_exported_from_the_latest_snapshot_only() -> None:
    m = OperatorMetrics()
    m.publish(
        Snapshot(
            jobs=(JobState("ns", "a", "Failure"), JobState("ns", "b", "Running")),
            tasks={("cap", "Pending"): 3},
            providers={"cap": 2},
            free_slots={"cap": 5},
        )
    )
    r = m.registry
    assert value(r, "taskmill_batchjob_status", namespace="ns", batchjob="a", status="Failure")
    assert value(r, "taskmill_batchjobs", namespace="ns", status="Running") == 1
    assert value(r, "taskmill_tasks", capability="cap", phase="Pending") == 3
    assert value(r, "taskmill_providers", capability="cap") == 2
    assert value(r, "taskmill_provider_free_slots", capability="cap") == 5

    m.publish(Snapshot(jobs=(JobState("ns", "b", "Running"),)))  # job a deleted
    assert (
        r.get_sample_value(
            "taskmill_batchjob_status", {"namespace": "ns", "batchjob": "a", "status": "Failure"}
        )
        is None
    )


def lease(name: str, capabilities: list[str], concurrency: str, busy: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "labels": {f"capability.taskmill.io/{c}": "true" for c in capabilities},
            "annotations": {"taskmill.io/concurrency": concurrency, "taskmill.io/busy": busy},
        },
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 10, "renewTime": "t"},
    }


def test_capacity_counts_live_providers_and_their_free_slots() -> None:
    presence = ProviderPresence(grace_seconds=1)
    presence.put(lease("p1", ["a", "b"], "4", "1"), now=0)
    presence.put(lease("p2", ["a"], "2", "5"), now=0)  # busier than its slots: none free
    presence.put(lease("p3", ["a"], "x", "y"), now=-100)  # stale by now, and malformed

    providers, free = presence.capacity(now=5)

    assert providers == {"a": 2, "b": 1}
    assert free == {"a": 3, "b": 3}
