"""Task counts of one job, from its index: the numbers status and normalization read."""

import heapq
from dataclasses import dataclass
from datetime import datetime

from taskmill.operator.splitting import task_name
from taskmill.operator.store import JobTasks

from taskmill.api import TaskCounts, TaskPhase
from taskmill.api.meta import MAX_FAILED_TASKS_LISTED
from taskmill.api.protocol import HELD_BACKOFF, HELD_CANCEL_ACK


@dataclass(frozen=True)
class Tally:
    counts: TaskCounts
    failed_tasks: list[str]  # the first few, by index
    first_start_time: datetime | None
    terminating: int  # held by a provider that was told to stop


def tally(tasks: JobTasks, total: int, *, stopped: bool, job: str) -> Tally:
    """Counts by state. Tasks not created yet are pending, or cancelled once the job stopped.

    `pending` and `retrying` are disjoint: a task waiting for another attempt after a
    failure or an expired lease is retrying, not pending. A finished index counts from
    the record in status when it holds it, else from its Task: once either way.
    """
    pending = leased = retrying = terminating = 0
    for row in tasks.live.values():
        match row.phase:
            case TaskPhase.LEASED | TaskPhase.RUNNING:
                leased += 1
                terminating += row.cancel
            case TaskPhase.HELD if row.reason == HELD_CANCEL_ACK:
                leased += 1
                terminating += 1
            case _ if row.reason == HELD_BACKOFF or row.attempts > 0:
                retrying += 1
            case _:
                pending += 1
    done = tasks.unrecorded_counts
    recorded = tasks.succeeded_record.count + tasks.failed_record.count
    cancelled = done[TaskPhase.CANCELLED]
    uncreated = max(0, total - len(tasks.live) - len(tasks.unrecorded) - recorded)
    if stopped:
        cancelled += uncreated
    else:
        pending += uncreated
    counts = TaskCounts(
        total=total,
        pending=pending,
        leased=leased,
        succeeded=tasks.succeeded_record.count + done[TaskPhase.SUCCEEDED],
        failed=tasks.failed_record.count + done[TaskPhase.FAILED],
        cancelled=cancelled,
        retrying=retrying,
    )
    first_failed = heapq.nsmallest(
        MAX_FAILED_TASKS_LISTED,
        {*tasks.failed, *tasks.failed_record.first(MAX_FAILED_TASKS_LISTED)},
    )
    return Tally(
        counts=counts,
        failed_tasks=[task_name(job, index) for index in first_failed],
        first_start_time=tasks.first_start,
        terminating=terminating,
    )
