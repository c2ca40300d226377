"""protocol.fail_attempt: what the work says about a retry (none, or after a delay)."""

from datetime import UTC, datetime

import pytest

from taskmill.api import Task, TaskLease, TaskPhase, TaskSpec, TaskStatus
from taskmill.api.protocol import Fence, fail_attempt

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FENCE = Fence("p-1", 3)


def running(attempts: int = 0, backoff: int = 10) -> Task:
    return Task(
        spec=TaskSpec(
            batch_job="j", index=0, capability="c", max_attempts=3, backoff_seconds=backoff
        ),
        status=TaskStatus(
            phase=TaskPhase.RUNNING, attempts=attempts, lease=TaskLease(holder="p-1", epoch=3)
        ),
    )


@pytest.mark.parametrize(
    ("task", "retry", "backoff", "phase", "retry_after"),
    [
        (running(), True, None, "Held", "2026-01-01T00:00:10.000000Z"),  # the task's backoff
        (running(), True, 2.5, "Held", "2026-01-01T00:00:02.500000Z"),  # the work's delay
        (running(), True, 0, "Pending", None),  # the work asks for no delay
        (running(backoff=0), True, 60, "Held", "2026-01-01T00:01:00.000000Z"),
        (running(), False, None, "Failed", None),  # attempts left, but no retry can help
        (running(), False, 5, "Failed", None),
        (running(attempts=2), True, 5, "Failed", None),  # attempts used up
    ],
)
def test_retry_backoff_or_fail_now(
    task: Task, retry: bool, backoff: float | None, phase: str, retry_after: str | None
) -> None:
    ops = fail_attempt(
        task, FENCE, NOW, outcome="Failed", reason="Why", retry=retry, backoff_seconds=backoff
    )
    values = {op["path"]: op["value"] for op in ops if op["op"] == "add"}
    assert (values["/status/phase"], values["/status/attempts"]) == (
        phase,
        task.status.attempts + 1,
    )
    assert values.get("/status/retryAfter") == retry_after
    assert ("/status/completionTime" in values) == (phase == "Failed")
