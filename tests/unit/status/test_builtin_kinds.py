"""The built-in default policy for batch/v1 Jobs and taskmill Tasks, value by value."""

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from taskmill.api import NormalizedStatus
from taskmill.api.common import TaskPhase
from taskmill.api.protocol import HELD_BACKOFF, HELD_SUSPENDED, normalized_task_status
from taskmill.status import Inventory, builtin_policy, gather, normalize
from tests.builders import make_task, make_workload

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CREATED = "2026-12-01T11:00:00Z"


def value_of(builder: Any, status: dict[str, Any]) -> NormalizedStatus:
    obj = builder.status(**status).obj() if status else builder.obj()
    verdict = normalize(obj, [builtin_policy()], NOW, gather(obj, Inventory(), NOW).facts)
    assert verdict.errors == ()
    return verdict.value


def condition(kind: str, status: str = "True") -> dict[str, str]:
    return {"type": kind, "status": status}


# The mapping table for batch/v1 Job (docs/status.md prints the same table).
@pytest.mark.parametrize(
    ("spec", "annotations", "status", "expected"),
    [
        ({}, {}, {}, NormalizedStatus.WAITING),
        ({}, {}, {"active": 2}, NormalizedStatus.RUNNING),
        ({}, {}, {"active": 1, "failed": 1}, NormalizedStatus.RESTART),
        ({}, {}, {"failed": 1}, NormalizedStatus.RESTART),
        ({}, {}, {"conditions": [condition("Complete")]}, NormalizedStatus.SUCCESS),
        ({}, {}, {"conditions": [condition("SuccessCriteriaMet")]}, NormalizedStatus.SUCCESS),
        ({}, {}, {"conditions": [condition("Failed")], "failed": 3}, NormalizedStatus.FAILURE),
        ({}, {}, {"conditions": [condition("FailureTarget")]}, NormalizedStatus.FAILURE),
        ({}, {}, {"conditions": [condition("Complete", "False")]}, NormalizedStatus.WAITING),
        ({"suspend": True}, {}, {"active": 1}, NormalizedStatus.ON_HOLD),
        (
            {"suspend": True},
            {},
            {"conditions": [condition("Complete")]},
            NormalizedStatus.SUCCESS,
        ),
        ({}, {"taskmill.io/start-within": "30m"}, {"active": 1}, NormalizedStatus.LATE_TO_START),
        (
            {},
            {"taskmill.io/start-within": "30m"},
            {"active": 1, "ready": 1},
            NormalizedStatus.RUNNING,
        ),
        ({}, {"taskmill.io/start-within": "2h"}, {}, NormalizedStatus.WAITING),
        (
            {},
            {"taskmill.io/expected-duration": "30m"},
            {"active": 1},
            NormalizedStatus.RUNNING_LATE,
        ),
        (
            {},
            {"taskmill.io/expected-duration": "30m"},
            {"conditions": [condition("Complete")]},
            NormalizedStatus.SUCCESS,
        ),
    ],
)
def test_job(
    spec: dict[str, Any], annotations: dict[str, str], status: dict[str, Any], expected: str
) -> None:
    builder = make_workload("batch/v1", "Job", "j").meta(
        creationTimestamp=CREATED, annotations=annotations
    )
    assert value_of(builder.spec(**spec), status) == expected


TASK_PHASES = [p.value for p in TaskPhase]
TASK_REASONS = ["", HELD_SUSPENDED, HELD_BACKOFF, "Parallelism"]


@pytest.mark.parametrize(
    ("phase", "reason", "attempts"),
    list(itertools.product(TASK_PHASES, TASK_REASONS, [0, 1])),
)
def test_task_rules_give_what_the_lease_protocol_writes(
    phase: str, reason: str, attempts: int
) -> None:
    """Providers write a Task's normalizedStatus in Python; the policy must agree."""
    task = make_task("t").status(phase=phase, reason=reason, attempts=attempts)
    assert value_of(task, {}) == normalized_task_status(phase, reason, attempts)
