"""Deadline policy: when a job is late to start, running late or past its hard limit.

All job deadlines run from the job's creation (`spec.deadlines`, DESIGN §2); a
suspended job's clock keeps running. Answers only ever change at the instants
`next_deadline` returns, so the scanner sleeps until then instead of polling.
"""

from datetime import datetime, timedelta

from taskmill.api.batchjob import Deadlines


def _after(start: datetime | None, seconds: int | None) -> datetime | None:
    if start is None or seconds is None:
        return None
    return start + timedelta(seconds=seconds)


def _passed(instant: datetime | None, now: datetime) -> bool:
    return instant is not None and now >= instant


def start_deadline(
    deadlines: Deadlines, created: datetime | None, first_start: datetime | None
) -> datetime | None:
    """When the job becomes LateToStart; None once a task has started."""
    if first_start is not None:
        return None
    return _after(created, deadlines.start_within_seconds)


def late_to_start(
    deadlines: Deadlines, created: datetime | None, first_start: datetime | None, now: datetime
) -> bool:
    """No task has started within startWithinSeconds of creation."""
    return _passed(start_deadline(deadlines, created, first_start), now)


def running_late(deadlines: Deadlines, created: datetime | None, now: datetime) -> bool:
    """The (unfinished) job has outlived expectedDurationSeconds."""
    return _passed(_after(created, deadlines.expected_duration_seconds), now)


def active_deadline_exceeded(deadlines: Deadlines, created: datetime | None, now: datetime) -> bool:
    """The (unfinished) job has outlived activeDeadlineSeconds: it must be stopped."""
    return _passed(_after(created, deadlines.active_deadline_seconds), now)


def next_deadline(
    deadlines: Deadlines, created: datetime | None, first_start: datetime | None, now: datetime
) -> datetime | None:
    """The next instant after `now` at which one of the answers above changes.

    A first task start also changes late_to_start, but that is an event the operator
    sees anyway. None means no deadline is ahead for this (unfinished) job.
    """
    instants = (
        start_deadline(deadlines, created, first_start),
        _after(created, deadlines.expected_duration_seconds),
        _after(created, deadlines.active_deadline_seconds),
    )
    ahead = [t for t in instants if t is not None and t > now]
    return min(ahead, default=None)
