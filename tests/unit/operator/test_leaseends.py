"""Ending a lease from the operator's side: the writes and notes, as pure decisions."""

from typing import Any

import pytest
from taskmill.operator.leaseends import cancel_notes, end_lease
from taskmill.operator.planning import CANCEL_IGNORED, JOB_CANCELLED, LEASE_EXPIRED, TIMEOUT

from taskmill.api import TaskPhase
from taskmill.api.protocol import HELD_CANCEL_ACK
from tests.unit.operator.rows import row

from .builders import at

RENEWED = "2026-01-01T12:00:05.000000Z"


def body(holder: str = "p", epoch: int = 1, renewed: str = RENEWED, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "job-0", "uid": "uid-0"},
        "spec": {"batchJob": "job", "index": 0, "capability": "cap", "maxAttempts": 3, **spec},
        "status": {
            "phase": "Running",
            "attempts": 0,
            "lease": {"holder": holder, "epoch": epoch, "renewTime": renewed},
        },
    }


SEEN = row(0, TaskPhase.RUNNING, renew_time=at(5))


def ops_by_path(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {op["path"]: op["value"] for op in ops if op["op"] == "add"}


@pytest.mark.parametrize(
    "fresh",
    [body(holder=""), body(epoch=2), body(renewed="2026-01-01T12:00:09.000000Z")],
    ids=["released", "next-attempt", "renewed"],
)
def test_nothing_to_end_when_the_lease_moved_on(fresh: dict[str, Any]) -> None:
    assert end_lease(SEEN, fresh, LEASE_EXPIRED, at(20)) is None


def test_an_expiry_is_a_cas_on_the_renewal_judged_and_counts_the_attempt() -> None:
    end = end_lease(SEEN, body(), LEASE_EXPIRED, at(20))
    assert end is not None
    assert end.ops[0] == {"op": "test", "path": "/status/lease/renewTime", "value": RENEWED}
    assert ops_by_path(end.ops)["/status/attempts"] == 1
    assert not end.clear_cancel
    assert [reason for reason, _ in end.task_notes + end.job_notes] == [LEASE_EXPIRED] * 2


def test_an_ignored_timeout_counts_the_attempt_despite_renewals_and_clears_the_cancel() -> None:
    seen = row(0, TaskPhase.RUNNING, cancel=True, cancel_reason=TIMEOUT, renew_time=at(1))
    end = end_lease(seen, body(), CANCEL_IGNORED, at(40))
    assert end is not None
    assert not [op for op in end.ops if op["path"] == "/status/lease/renewTime"]
    added = ops_by_path(end.ops)
    assert (added["/status/attempts"], added["/status/lease"]["holder"]) == (1, "")
    assert end.clear_cancel


def test_an_ignored_job_cancel_releases_as_an_acknowledgement_would() -> None:
    seen = row(0, TaskPhase.RUNNING, cancel=True, cancel_reason=JOB_CANCELLED)
    end = end_lease(seen, body(), CANCEL_IGNORED, at(40))
    assert end is not None
    added = ops_by_path(end.ops)
    assert (added["/status/phase"], added["/status/reason"]) == ("Held", HELD_CANCEL_ACK)
    assert "/status/attempts" not in added
    assert not end.clear_cancel


def test_only_a_timeout_is_news_on_the_task() -> None:
    running = row(0, TaskPhase.RUNNING, timeout_seconds=10)
    assert [r for r, _ in cancel_notes(running, TIMEOUT)] == ["TaskTimedOut"]
    assert cancel_notes(running, JOB_CANCELLED) == []
