"""Ending a holder's lease from the operator's side: what to write and what to say.

Pure functions of the Task row the plan was made from, the Task as just read back, the
kind of ending and the clock. The writer (taskwrites) performs the writes in order and
posts the notes; it decides nothing.

Three kinds of ending:
- LEASE_EXPIRED: no renewal seen for the lease duration plus a grace (on the observer
  clock). A compare-and-swap on the renewTime judged, so a renewal racing the expiry wins.
- PROVIDER_LOST: the holder's presence Lease lapsed, so every lease it holds ends at
  once instead of each after its own duration; written like LEASE_EXPIRED.
- CANCEL_IGNORED: the holder kept renewing but did not acknowledge spec.cancel within
  the cancel grace (its kill grace plus a margin). Fenced on holder and epoch only: the
  renewals are exactly what is being overridden.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskmill.operator.planning import CANCEL_IGNORED, LEASE_EXPIRED, PROVIDER_LOST, TIMEOUT
from taskmill.operator.store import TaskRow

from taskmill.api import Task, protocol

TIMED_OUT = "TimedOut"
EXPIRED = "Expired"
TASK_TIMED_OUT = "TaskTimedOut"

Note = tuple[str, str]  # (Event reason, message)


@dataclass(frozen=True)
class LeaseEnd:
    clear_cancel: bool  # set spec.cancel false before the status write
    ops: protocol.Patch  # the status write
    task_notes: list[Note] = field(default_factory=list)  # Events on the Task
    job_notes: list[Note] = field(default_factory=list)  # Events on the BatchJob


def end_lease(row: TaskRow, body: dict[str, Any], kind: str, now: datetime) -> LeaseEnd | None:
    """The writes that end the lease `row` saw; None when the lease has moved on since
    (renewed, released, or another attempt), so there is nothing to end."""
    task = Task.model_validate(body)
    lease = task.status.lease
    if (lease.holder, lease.epoch) != (row.holder, row.epoch):
        return None
    fence = protocol.Fence(row.holder, row.epoch)
    if kind in (LEASE_EXPIRED, PROVIDER_LOST):
        return _expired(row, task, body, fence, now, kind)
    return _cancel_ignored(row, task, fence, now)


def _expired(
    row: TaskRow, task: Task, body: dict[str, Any], fence: protocol.Fence, now: datetime, kind: str
) -> LeaseEnd | None:
    if task.status.lease.renew_time != row.renew_time:
        return None  # renewed after all: the observer clock restarts
    ops = protocol.fail_attempt(task, fence, now, outcome=EXPIRED, reason=kind)
    renewed = body["status"]["lease"].get("renewTime")
    if renewed is not None:
        ops.insert(0, {"op": "test", "path": "/status/lease/renewTime", "value": renewed})
    why = (
        f"no renewal seen for {row.lease_seconds}s plus grace"
        if kind == LEASE_EXPIRED
        else "its presence Lease lapsed (the provider is gone)"
    )
    note = (
        f"lease of {row.holder} (epoch {row.epoch}) expired: {why}; attempt "
        f"{task.status.attempts + 1} of {task.spec.max_attempts} counted"
    )
    # A timed-out task's cancel is cleared only once the expiry is confirmed (a holder
    # still renewing must keep seeing it), and before the status write, which may make
    # the task leasable again.
    return LeaseEnd(
        clear_cancel=row.cancel_reason == TIMEOUT,
        ops=ops,
        task_notes=[(kind, note)],
        job_notes=[(kind, f"{row.name}: {note}")],
    )


def _cancel_ignored(row: TaskRow, task: Task, fence: protocol.Fence, now: datetime) -> LeaseEnd:
    why = row.cancel_reason
    if why == TIMEOUT:
        # As if acknowledged: the attempt counts, and the task is retried or fails.
        ops = protocol.fail_attempt(task, fence, now, outcome=TIMED_OUT, reason=CANCEL_IGNORED)
        outcome = f"attempt {task.status.attempts + 1} of {task.spec.max_attempts} counted"
    else:
        # The job is stopping: release as an acknowledgement would; the plan cancels it.
        ops = protocol.release(task, fence, now, outcome="Cancelled", reason=why, hold=True)
        outcome = "the task is cancelled"
    note = (
        f"{row.holder} (epoch {row.epoch}) did not acknowledge the cancel ({why}) within "
        f"the cancel grace; the operator ended its lease, {outcome}"
    )
    return LeaseEnd(
        clear_cancel=why == TIMEOUT,
        ops=ops,
        task_notes=[(CANCEL_IGNORED, note)],
        job_notes=[(CANCEL_IGNORED, f"{row.name}: {note}")],
    )


def cancel_notes(row: TaskRow, reason: str) -> list[Note]:
    """Events on the Task when the operator asks its holder to stop: a timeout is news;
    a job-wide stop is announced on the job itself."""
    if reason != TIMEOUT:
        return []
    return [
        (
            TASK_TIMED_OUT,
            f"{row.name} ran longer than timeoutSeconds ({row.timeout_seconds}s); "
            f"asked {row.holder} to terminate it",
        )
    ]
