"""protocol.count_attempt: the operator counts a timed-out task's attempt after the ack."""

from datetime import UTC, datetime

from taskmill.api import Task, TaskLease, TaskPhase, TaskSpec, TaskStatus
from taskmill.api.protocol import Fence, count_attempt, fail_attempt

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def held(attempts: int, max_attempts: int = 3, backoff: int = 0) -> Task:
    return Task(
        spec=TaskSpec(
            batch_job="j",
            index=0,
            capability="c",
            max_attempts=max_attempts,
            backoff_seconds=backoff,
        ),
        status=TaskStatus(
            phase=TaskPhase.HELD,
            reason="CancelAcknowledged",
            attempts=attempts,
            lease=TaskLease(holder="", epoch=4),
        ),
    )


def values(ops: list[dict[str, object]]) -> dict[object, object]:
    return {op["path"]: op["value"] for op in ops if op["op"] == "add"}


def test_cas_on_the_free_held_task() -> None:
    ops = count_attempt(held(0), NOW, reason="TimedOut")
    assert ops[:3] == [
        {"op": "test", "path": "/status/phase", "value": "Held"},
        {"op": "test", "path": "/status/lease/holder", "value": ""},
        {"op": "test", "path": "/status/lease/epoch", "value": 4},
    ]


def test_retry_now_after_backoff_or_fail() -> None:
    now = values(count_attempt(held(0), NOW, reason="TimedOut"))
    assert (now["/status/attempts"], now["/status/phase"]) == (1, "Pending")
    later = values(count_attempt(held(1, backoff=10), NOW, reason="TimedOut"))
    assert (later["/status/phase"], later["/status/reason"]) == ("Held", "Backoff")
    assert later["/status/retryAfter"] == "2026-01-01T00:00:10.000000Z"
    last = values(count_attempt(held(2), NOW, reason="TimedOut"))
    assert (last["/status/attempts"], last["/status/phase"]) == (3, "Failed")
    assert last["/status/reason"] == "TimedOut"
    assert "/status/completionTime" in last


def running(attempts: int, max_attempts: int = 3) -> Task:
    return Task(
        spec=TaskSpec(batch_job="j", index=0, capability="c", max_attempts=max_attempts),
        status=TaskStatus(
            phase=TaskPhase.RUNNING, attempts=attempts, lease=TaskLease(holder="p", epoch=3)
        ),
    )


def test_a_final_failure_fails_the_task_whatever_attempts_are_left() -> None:
    fence = Fence("p", 3)
    final = values(
        fail_attempt(running(0), fence, NOW, outcome="Failed", reason="InputMissing", retry=False)
    )
    assert (final["/status/phase"], final["/status/attempts"]) == ("Failed", 1)
    retried = values(fail_attempt(running(0), fence, NOW, outcome="Failed", reason="X"))
    assert retried["/status/phase"] == "Held"
