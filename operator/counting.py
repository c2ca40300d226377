"""Task counts of one job, from its rows: the numbers status and normalization read."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from taskmill.operator.api import TaskCounts, TaskPhase
from taskmill.operator.api.meta import MAX_FAILED_TASKS_LISTED
from taskmill.operator.api.protocol import HELD_BACKOFF, HELD_CANCEL_ACK
from taskmill.operator.store import TaskRow


@dataclass(frozen=True)
class Tally:
    counts: TaskCounts
    failed_tasks: list[str]  # the first few, by index
    first_start_time: datetime | None
    leasable: int  # Pending now
    terminating: int  # held by a provider that was told to stop


def tally(rows: Iterable[TaskRow], total: int, *, stopped: bool) -> Tally:
    """Counts by state. Tasks not created yet are pending, or cancelled once the job stopped.

    `pending` and `retrying` are disjoint: a task waiting for another attempt after a
    failure or an expired lease is retrying, not pending.
    """
    pending = leased = succeeded = failed = cancelled = retrying = 0
    leasable = terminating = 0
    failed_rows: list[TaskRow] = []
    first_start: datetime | None = None
    seen = 0
    for row in rows:
        seen += 1
        if row.start_time is not None and (first_start is None or row.start_time < first_start):
            first_start = row.start_time
        match row.phase:
            case TaskPhase.SUCCEEDED:
                succeeded += 1
            case TaskPhase.FAILED:
                failed += 1
                failed_rows.append(row)
            case TaskPhase.CANCELLED:
                cancelled += 1
            case TaskPhase.LEASED | TaskPhase.RUNNING:
                leased += 1
                terminating += row.cancel
            case TaskPhase.HELD if row.reason == HELD_CANCEL_ACK:
                leased += 1
                terminating += 1
            case _ if row.reason == HELD_BACKOFF or row.attempts > 0:
                retrying += 1
                leasable += row.phase == TaskPhase.PENDING
            case _:
                pending += 1
                leasable += row.phase == TaskPhase.PENDING
    uncreated = max(0, total - seen)
    if stopped:
        cancelled += uncreated
    else:
        pending += uncreated
    failed_rows.sort(key=lambda r: r.index)
    counts = TaskCounts(
        total=total,
        pending=pending,
        leased=leased,
        succeeded=succeeded,
        failed=failed,
        cancelled=cancelled,
        retrying=retrying,
    )
    return Tally(
        counts=counts,
        failed_tasks=[r.name for r in failed_rows[:MAX_FAILED_TASKS_LISTED]],
        first_start_time=first_start,
        leasable=leasable,
        terminating=terminating,
    )
