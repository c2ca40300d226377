"""Builders of Task rows for the reconciler's pure-logic tests."""

from datetime import datetime
from typing import Any

from taskmill.operator.store import JobTasks, TaskRow

from taskmill.api import TaskPhase


def row(index: int, phase: TaskPhase = TaskPhase.PENDING, **fields: Any) -> TaskRow:
    values: dict[str, Any] = {
        "name": f"job-{index}",
        "uid": f"uid-{index}",
        "index": index,
        "capability": "cap",
        "phase": phase,
        "reason": "",
        "attempts": 0,
        "holder": "p" if phase in (TaskPhase.LEASED, TaskPhase.RUNNING) else "",
        "epoch": 1 if phase in (TaskPhase.LEASED, TaskPhase.RUNNING) else 0,
        "renew_time": None,
        "lease_seconds": 5,
        "retry_after": None,
        "start_time": None,
        "cancel": False,
        "cancel_reason": "",
        "timeout_seconds": None,
        "max_attempts": 3,
        "backoff_seconds": 0,
        "resource_version": "1",
    }
    values.update(fields)
    return TaskRow(**values)


def job_tasks(*rows: TaskRow) -> JobTasks:
    tasks = JobTasks()
    for r in rows:
        tasks.put(r)
    return tasks


def started(at: datetime) -> dict[str, Any]:
    return {"start_time": at}
