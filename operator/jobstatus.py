"""A BatchJob's whole status, computed from its task counts and what the runtime saw.

The raw phase follows these rules, first match wins:

1. a finished job (Succeeded, Failed, Cancelled) stays finished;
2. a spec the operator rejected -> Failed;
3. spec.cancel -> Cancelled once no task is still being terminated;
4. the active deadline passed -> Failed once no task is still being terminated;
5. a predecessor failed -> Failed;
6. every task finished -> Succeeded if all succeeded, else Failed (a failed task does
   not stop the others, so the job fails only when nothing is left to run);
7. otherwise Running once a task has started, else Pending.

Conditions then follow from the phase, so kubectl wait, kstatus (Flux) and Argo CD
read the job right: Complete/Ready are True only on success, Failed/Stalled only on
failure (Stalled also on cancel), Reconciling while unfinished. Each carries
observedGeneration, which `kubectl wait` requires to match metadata.generation.
While the job runs, Ready/Reconciling/Stalled carry the normalized status as their
reason; once it has finished, the reason it finished.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskmill.operator.conditions import ConditionType, find_condition, set_condition
from taskmill.operator.dependencies import DependencyState, DependencyStatus

from taskmill.api.batchjob import BatchJob, BatchJobStatus, SplitRecord, TaskCounts
from taskmill.api.common import (
    TERMINAL_JOB_PHASES,
    ConditionStatus,
    JobPhase,
    NormalizedStatus,
)
from taskmill.api.deadlines import active_deadline_exceeded, late_to_start, running_late
from taskmill.api.meta import MAX_FAILED_TASKS_LISTED
from taskmill.status import batchjob_status
from taskmill.status.adapters.batchjob import BatchJobFacts

# Reasons a job finished, on Complete/Failed/Cancelled/Ready/Stalled/Reconciling.
REASON_SUCCEEDED = "TasksSucceeded"
REASON_TASKS_FAILED = "TasksFailed"
REASON_DEADLINE_EXCEEDED = "DeadlineExceeded"
REASON_DEPENDENCY_FAILED = "DependencyFailed"
REASON_REJECTED = "Rejected"
REASON_CANCELLED = "JobCancelled"
# Reasons of the aspect conditions.
REASON_ACCEPTED = "Accepted"
REASON_SUSPENDED = "SuspendRequested"
REASON_NOT_SUSPENDED = "NotSuspended"
REASON_ON_TIME = "OnTime"
REASON_START_DEADLINE = "StartDeadlineExceeded"
REASON_EXPECTED_DURATION = "ExpectedDurationExceeded"
REASON_PROVIDERS = "ProvidersAvailable"
REASON_NO_PROVIDER = "NoProviderForCapability"
REASON_PROVIDERS_UNKNOWN = "NotObserved"
REASON_SPLIT_CHANGED = "SplitChanged"
REASON_FOREIGN_TASKS = "LeftByEarlierJob"
REASON_FAILED_CREATE = "FailedCreate"
REASON_RESOLVED = "Resolved"

_SUSPENDED_MESSAGE = "spec.suspend is set: nothing new is leased"
_FINAL_CONDITION = {
    JobPhase.SUCCEEDED: ConditionType.COMPLETE,
    JobPhase.FAILED: ConditionType.FAILED,
    JobPhase.CANCELLED: ConditionType.CANCELLED,
}


@dataclass(frozen=True)
class JobFacts:
    """What the runtime observed about a job besides its task counts.

    The counts are read as: `pending` = tasks not leased, not waiting for a retry and
    not finished (including tasks not created yet); `leased` = leased or running;
    `retrying` = waiting for another attempt after a failure or an expired lease.
    """

    accepted: bool = True
    rejection_reason: str = REASON_REJECTED  # CamelCase, when not accepted
    rejection_message: str = ""  # names the offending field
    dependencies: DependencyState = field(default_factory=DependencyState)
    providers_available: bool | None = None  # None: not observed yet
    missing_capabilities: tuple[str, ...] = ()  # served by no live provider; for the message
    first_start_time: datetime | None = None  # earliest task start seen
    running_terminating: int = 0  # tasks still stopping after cancel or the active deadline
    split: SplitRecord | None = None  # the split the job runs (recorded once, then kept)
    split_changed: str = ""  # why the spec's split no longer counts, when it changed
    foreign_tasks: str = ""  # Tasks of an earlier job of this name hold Task names
    create_failure: str = ""  # the API server's message when it refused to create a Task
    # the finished indexes to record (operator.retention): never fewer than status holds
    succeeded_indexes: str = ""
    failed_indexes: str = ""


@dataclass(frozen=True)
class _Outcome:
    phase: JobPhase
    reason: str = ""  # why it finished; empty while unfinished
    message: str = ""


def compute_status(
    job: BatchJob,
    counts: TaskCounts,
    facts: JobFacts,
    failed_tasks: Sequence[str],
    now: datetime,
) -> BatchJobStatus:
    """The status to write for `job` (phase, normalized status, counts, conditions)."""
    old = job.status
    start_time = old.start_time or facts.first_start_time
    outcome = _outcome(job, counts, facts, start_time, now)
    finished = outcome.phase in TERMINAL_JOB_PHASES
    created = job.metadata.creation_timestamp
    deadlines = job.spec.deadlines
    late_start = not finished and late_to_start(deadlines, created, start_time, now)
    late_run = not finished and running_late(deadlines, created, now)
    normalized = batchjob_status(
        BatchJobFacts(
            phase=outcome.phase,
            accepted=facts.accepted,
            cancel_requested=job.spec.cancel and not finished,
            active_deadline_exceeded=not finished
            and active_deadline_exceeded(deadlines, created, now),
            suspended=job.spec.suspend,
            late_to_start=late_start,
            running_late=late_run,
            retrying=counts.retrying,
            leased=counts.leased,
            leasable=counts.pending if facts.dependencies.met else 0,
            dependencies_met=facts.dependencies.met,
        ),
        now,
    )
    if finished:
        reason, message = outcome.reason, outcome.message
    else:
        reason, message = normalized.value, _explain(normalized, job, counts, facts)

    rows = [
        (
            ConditionType.ACCEPTED,
            _bool(facts.accepted),
            REASON_ACCEPTED if facts.accepted else facts.rejection_reason,
            "" if facts.accepted else facts.rejection_message,
        ),
        (ConditionType.RECONCILING, _bool(not finished), reason, message),
        (ConditionType.READY, _bool(outcome.phase == JobPhase.SUCCEEDED), reason, message),
        (
            ConditionType.STALLED,
            _bool(outcome.phase in (JobPhase.FAILED, JobPhase.CANCELLED)),
            reason,
            message,
        ),
        (ConditionType.COMPLETE, _bool(outcome.phase == JobPhase.SUCCEEDED), reason, message),
        (ConditionType.FAILED, _bool(outcome.phase == JobPhase.FAILED), reason, message),
        (ConditionType.CANCELLED, _bool(outcome.phase == JobPhase.CANCELLED), reason, message),
        _flag_row(
            ConditionType.SUSPENDED,
            job.spec.suspend and not finished,
            (REASON_SUSPENDED, _SUSPENDED_MESSAGE),
            REASON_NOT_SUSPENDED,
        ),
        _flag_row(
            ConditionType.LATE_TO_START,
            late_start,
            (
                REASON_START_DEADLINE,
                f"no task started within {deadlines.start_within_seconds}s of creation",
            ),
            REASON_ON_TIME,
        ),
        _flag_row(
            ConditionType.RUNNING_LATE,
            late_run,
            (
                REASON_EXPECTED_DURATION,
                f"unfinished {deadlines.expected_duration_seconds}s after creation",
            ),
            REASON_ON_TIME,
        ),
        _providers_row(job, facts, finished),
    ]
    problems = [
        (ConditionType.SPLIT_CHANGED, REASON_SPLIT_CHANGED, facts.split_changed),
        (ConditionType.FOREIGN_TASKS, REASON_FOREIGN_TASKS, facts.foreign_tasks),
        (ConditionType.CREATE_FAILED, REASON_FAILED_CREATE, facts.create_failure),
    ]
    for kind, why, what in problems:
        # A problem condition appears when it first happens: jobs that never meet it
        # carry no row for it.
        if what or find_condition(old.conditions, kind) is not None:
            rows.append(_flag_row(kind, bool(what), (why, what), REASON_RESOLVED))
    conditions = list(old.conditions)
    for kind, status, why, what in rows:
        conditions = set_condition(
            conditions, kind, status, why, what, job.metadata.generation, now
        )

    return BatchJobStatus(
        observed_generation=job.metadata.generation,
        phase=outcome.phase,
        normalized_status=normalized,
        start_time=start_time,
        completion_time=old.completion_time or (now if finished else None),
        progress=f"{counts.succeeded}/{counts.total}",
        counts=counts,
        conditions=conditions,
        failed_tasks=sorted(failed_tasks, key=_natural)[:MAX_FAILED_TASKS_LISTED],
        succeeded_indexes=facts.succeeded_indexes,
        failed_indexes=facts.failed_indexes,
        split=old.split or facts.split,
        dependencies_met_time=old.dependencies_met_time
        or (now.replace(microsecond=0) if facts.dependencies.met else None),
    )


def _outcome(
    job: BatchJob,
    counts: TaskCounts,
    facts: JobFacts,
    start_time: datetime | None,
    now: datetime,
) -> _Outcome:
    """The raw phase by the rules in the module docstring, with why it finished."""
    old = job.status
    if old.phase in TERMINAL_JOB_PHASES:
        return _kept_outcome(old)
    if not facts.accepted:
        return _Outcome(JobPhase.FAILED, facts.rejection_reason, facts.rejection_message)
    unfinished = _Outcome(JobPhase.RUNNING if start_time else JobPhase.PENDING)
    if job.spec.cancel:
        if facts.running_terminating:
            return unfinished
        return _Outcome(JobPhase.CANCELLED, REASON_CANCELLED, "cancelled by spec.cancel")
    deadlines = job.spec.deadlines
    if active_deadline_exceeded(deadlines, job.metadata.creation_timestamp, now):
        if facts.running_terminating:
            return unfinished
        return _Outcome(
            JobPhase.FAILED,
            REASON_DEADLINE_EXCEEDED,
            f"activeDeadlineSeconds ({deadlines.active_deadline_seconds}s) exceeded",
        )
    if facts.dependencies.status == DependencyStatus.FAILED:
        return _Outcome(JobPhase.FAILED, REASON_DEPENDENCY_FAILED, facts.dependencies.message)
    done = counts.succeeded + counts.failed + counts.cancelled
    if counts.total > 0 and done >= counts.total:
        if counts.succeeded == counts.total:
            return _Outcome(
                JobPhase.SUCCEEDED, REASON_SUCCEEDED, f"all {counts.total} tasks succeeded"
            )
        return _Outcome(
            JobPhase.FAILED,
            REASON_TASKS_FAILED,
            f"{counts.total - counts.succeeded} of {counts.total} tasks did not succeed; "
            "see status.failedTasks",
        )
    return unfinished


def _kept_outcome(old: BatchJobStatus) -> _Outcome:
    """A finished job keeps its phase and the reason it finished, whatever happens next
    (a predecessor deleted, spec.cancel set after success)."""
    final = find_condition(old.conditions, _FINAL_CONDITION[old.phase])
    if final is None:
        return _Outcome(old.phase, str(old.phase))
    return _Outcome(old.phase, final.reason, final.message)


def _explain(
    normalized: NormalizedStatus, job: BatchJob, counts: TaskCounts, facts: JobFacts
) -> str:
    """A message for an unfinished job, saying what its normalized status means now."""
    match normalized:
        case NormalizedStatus.CANCEL:
            return f"cancel requested; {facts.running_terminating} tasks still terminating"
        case NormalizedStatus.FAILURE:
            return (
                f"activeDeadlineSeconds exceeded; {facts.running_terminating} tasks "
                "still terminating"
            )
        case NormalizedStatus.ON_HOLD:
            return _SUSPENDED_MESSAGE
        case NormalizedStatus.RESTART:
            return f"{counts.retrying} tasks wait to be retried"
        case NormalizedStatus.WAITING if facts.providers_available is False:
            return _no_provider_message(job, facts)
        case NormalizedStatus.INACTIVE:
            return facts.dependencies.message
    return (
        f"{counts.succeeded}/{counts.total} succeeded, {counts.leased} running, "
        f"{counts.pending} pending"
    )


Row = tuple[ConditionType, ConditionStatus, str, str]  # type, status, reason, message


def _bool(value: bool) -> ConditionStatus:
    return ConditionStatus.TRUE if value else ConditionStatus.FALSE


def _flag_row(type: ConditionType, on: bool, when_on: tuple[str, str], off_reason: str) -> Row:
    """A condition that holds a (reason, message) while `on` and is False otherwise."""
    if on:
        return type, ConditionStatus.TRUE, *when_on
    return type, ConditionStatus.FALSE, off_reason, ""


def _providers_row(job: BatchJob, facts: JobFacts, finished: bool) -> Row:
    """ProvidersAvailable; frozen once the job finished, so providers coming and going
    cause no writes to finished jobs."""
    type = ConditionType.PROVIDERS_AVAILABLE
    old = find_condition(job.status.conditions, type)
    if finished and old is not None:
        return type, ConditionStatus(old.status), old.reason, old.message
    if facts.providers_available is None:
        return type, ConditionStatus.UNKNOWN, REASON_PROVIDERS_UNKNOWN, ""
    if facts.providers_available:
        return type, ConditionStatus.TRUE, REASON_PROVIDERS, ""
    return type, ConditionStatus.FALSE, REASON_NO_PROVIDER, _no_provider_message(job, facts)


def _no_provider_message(job: BatchJob, facts: JobFacts) -> str:
    names = ", ".join(facts.missing_capabilities or (job.spec.capability,))
    return f"no live provider serves capability {names}"


def _natural(name: str) -> tuple[int, str]:
    """Orders `<job>-2` before `<job>-10`: shorter names of one job have smaller indexes."""
    return len(name), name


def status_changed(old: BatchJobStatus, new: BatchJobStatus) -> bool:
    """Whether writing `new` over `old` changes anything but condition timestamps."""
    return _comparable(old) != _comparable(new)


def _comparable(status: BatchJobStatus) -> dict[str, Any]:
    body = status.model_dump(exclude={"conditions"})
    body["conditions"] = {
        c.type: c.model_dump(exclude={"last_transition_time"}) for c in status.conditions
    }
    return body
