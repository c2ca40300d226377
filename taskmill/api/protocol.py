"""The lease protocol as pure functions: each returns the JSON Patch for one write.

Operator and providers build every Task status write here, so both sides agree on
the wire format and on the fencing rule: a write by the lease holder tests holder and
epoch, and fails with 422 once the lease has moved on. A claim tests that the task is
Pending and free at the epoch the claimer saw, which makes it a compare-and-swap.
The API server's CEL rules (see task.py) enforce the same transitions independently.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from taskmill.api.common import NormalizedStatus, TaskPhase
from taskmill.api.meta import MAX_HISTORY, MAX_RESULT_OUTPUT
from taskmill.api.task import HistoryEntry, Task, TaskResult

Op = dict[str, Any]
Patch = list[Op]

# Held reasons: why a task exists but may not be leased.
HELD_BACKOFF = "Backoff"
HELD_SUSPENDED = "Suspended"
HELD_PARALLELISM = "Parallelism"
HELD_CANCEL_ACK = "CancelAcknowledged"


def timestamp(t: datetime) -> str:
    """RFC 3339 with microseconds in UTC, as the CRD's date-time fields store it."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Fence:
    """The holder's identity and lease epoch: the fencing token of every write it makes."""

    holder: str
    epoch: int

    def tests(self) -> Patch:
        return [
            {"op": "test", "path": "/status/lease/holder", "value": self.holder},
            {"op": "test", "path": "/status/lease/epoch", "value": self.epoch},
        ]


@dataclass(frozen=True)
class Unclaimed:
    """The fencing of a task run before it was claimed (spec.claim Optimistic).

    Its one write claims the task and reports the result together. It tests that the
    task is still the object the run started from (uid: not deleted and made again),
    still Pending and free, at the epoch and attempt count the run saw: every claim,
    every ended lease and every counted attempt changes one of them, so the write lands
    only if nobody claimed the task meanwhile and no result was recorded. A task that
    was held (suspended, parallelism) and released again in between passes: nothing
    ran it, and what it runs cannot change (params are immutable).
    """

    uid: str
    epoch: int
    attempts: int

    def tests(self) -> Patch:
        return [
            {"op": "test", "path": "/metadata/uid", "value": self.uid},
            {"op": "test", "path": "/status/phase", "value": TaskPhase.PENDING.value},
            {"op": "test", "path": "/status/lease/holder", "value": ""},
            {"op": "test", "path": "/status/lease/epoch", "value": self.epoch},
            {"op": "test", "path": "/status/attempts", "value": self.attempts},
        ]


def run_first(task: Task, holder: str, started: datetime) -> tuple[Task, Unclaimed]:
    """A Pending task about to run before it is claimed: the task as its one write will
    have claimed it (holder at epoch + 1, running since `started`), which the final
    patches (succeed, fail_attempt) end as they end any lease, and the fencing that
    write tests instead of a holder's. The write ends at epoch + 2 with the lease free,
    exactly as a claim followed by a final write would leave it."""
    status, lease = task.status, task.status.lease
    claimed_lease = lease.model_copy(update={"holder": holder, "epoch": lease.epoch + 1})
    claimed = task.model_copy(
        update={
            "status": status.model_copy(
                update={"phase": TaskPhase.RUNNING, "lease": claimed_lease, "start_time": started}
            )
        }
    )
    fencing = Unclaimed(task.metadata.uid, lease.epoch, status.attempts)
    return claimed, fencing


def started_at(started: datetime) -> Op:
    """The start time a run-first write records (a claim records it otherwise)."""
    return {"op": "add", "path": "/status/startTime", "value": timestamp(started)}


def normalized_task_status(phase: str, reason: str, attempts: int) -> NormalizedStatus:
    """One Task's normalized status from its raw phase."""
    match phase:
        case TaskPhase.SUCCEEDED:
            return NormalizedStatus.SUCCESS
        case TaskPhase.FAILED:
            return NormalizedStatus.FAILURE
        case TaskPhase.CANCELLED:
            return NormalizedStatus.CANCEL
        case TaskPhase.LEASED | TaskPhase.RUNNING:
            return NormalizedStatus.RUNNING
        case TaskPhase.HELD if reason == HELD_SUSPENDED:
            return NormalizedStatus.ON_HOLD
        case TaskPhase.HELD if reason == HELD_BACKOFF:
            return NormalizedStatus.RESTART
        case TaskPhase.HELD | TaskPhase.PENDING:
            return NormalizedStatus.RESTART if attempts > 0 else NormalizedStatus.WAITING
    return NormalizedStatus.UNKNOWN


def _phase_ops(phase: TaskPhase, reason: str, attempts: int) -> Patch:
    return [
        {"op": "add", "path": "/status/phase", "value": phase.value},
        {"op": "add", "path": "/status/reason", "value": reason},
        {
            "op": "add",
            "path": "/status/normalizedStatus",
            "value": normalized_task_status(phase, reason, attempts).value,
        },
    ]


def claim(
    task: Task,
    holder: str,
    capabilities: list[str],
    now: datetime,
    *,
    duration_seconds: int,
    renew_interval_seconds: int,
    start_running: bool = True,
    presence_instance: str = "",
) -> Patch:
    """Take a Pending, free task. A provider that starts at once claims into Running.

    With `presence_instance` the lease is bound to the holder's presence Lease: it lives
    while that Lease is renewed by that instance, and the holder writes the task again
    only for progress and its result. Without it the holder renews renewTime itself.
    """
    lease = task.status.lease
    phase = TaskPhase.RUNNING if start_running else TaskPhase.LEASED
    ops: Patch = [
        {"op": "test", "path": "/status/phase", "value": TaskPhase.PENDING.value},
        {"op": "test", "path": "/status/lease/holder", "value": ""},
        {"op": "test", "path": "/status/lease/epoch", "value": lease.epoch},
        {
            "op": "add",
            "path": "/status/lease",
            "value": {
                "holder": holder,
                "capabilities": sorted(capabilities),
                "epoch": lease.epoch + 1,
                "acquireTime": timestamp(now),
                "renewTime": timestamp(now),
                "durationSeconds": min(duration_seconds, task.spec.lease_duration_seconds),
                "renewIntervalSeconds": renew_interval_seconds,
                **({"presenceInstance": presence_instance} if presence_instance else {}),
            },
        },
        *_phase_ops(phase, "", task.status.attempts),
    ]
    if start_running:
        ops.append({"op": "add", "path": "/status/startTime", "value": timestamp(now)})
    return ops


def start(fence: Fence, attempts: int, now: datetime) -> Patch:
    """Leased -> Running, for providers that claim before they are ready to start."""
    return [
        *fence.tests(),
        *_phase_ops(TaskPhase.RUNNING, "", attempts),
        {"op": "add", "path": "/status/startTime", "value": timestamp(now)},
        {"op": "add", "path": "/status/lease/renewTime", "value": timestamp(now)},
    ]


def renew(fence: Fence, now: datetime, percent: int | None = None, message: str = "") -> Patch:
    """Heartbeat, optionally with progress; a lease bound to a presence Lease sends it only
    to report progress."""
    ops: Patch = [
        *fence.tests(),
        {"op": "add", "path": "/status/lease/renewTime", "value": timestamp(now)},
    ]
    if percent is not None or message:
        progress: dict[str, Any] = {"message": message[:1024]}
        if percent is not None:
            progress["percent"] = max(0, min(100, percent))
        ops.append({"op": "add", "path": "/status/progress", "value": progress})
    return ops


def _end_lease(
    task: Task, now: datetime, outcome: str, reason: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The freed lease (epoch + 1) and the bounded history with this lease's entry."""
    lease = task.status.lease
    entry = HistoryEntry(
        epoch=lease.epoch, holder=lease.holder, outcome=outcome, reason=reason, time=now
    )
    history = [*task.status.history, entry][-MAX_HISTORY:]
    freed = {"holder": "", "capabilities": [], "epoch": lease.epoch + 1}
    return freed, [h.wire() for h in history]


def _result(result: TaskResult) -> dict[str, Any]:
    clipped = result.model_copy(update={"output": result.output[-MAX_RESULT_OUTPUT:]})
    return clipped.wire()


def succeed(task: Task, fence: Fence | Unclaimed, now: datetime, result: TaskResult) -> Patch:
    """The holder's final write for a successful attempt."""
    freed, history = _end_lease(task, now, "Succeeded", result.reason or "Completed")
    return [
        *fence.tests(),
        {"op": "add", "path": "/status/lease", "value": freed},
        {"op": "add", "path": "/status/history", "value": history},
        {"op": "add", "path": "/status/result", "value": _result(result)},
        {"op": "add", "path": "/status/completionTime", "value": timestamp(now)},
        *_phase_ops(TaskPhase.SUCCEEDED, result.reason or "Completed", task.status.attempts),
    ]


def fail_attempt(
    task: Task,
    fence: Fence | Unclaimed,
    now: datetime,
    *,
    outcome: str,
    reason: str,
    result: TaskResult | None = None,
    retry: bool = True,
    backoff_seconds: float | None = None,
) -> Patch:
    """End the lease of a failed attempt and count it: retry after backoff, or fail.

    Used by a provider whose work failed and by the operator when a lease expires or a
    timed-out task was terminated: one write ends the lease, counts the attempt and
    decides what comes next, so a retry costs no extra round trip. The work may say
    more: `retry=False` fails the task now (a retry cannot help), and `backoff_seconds`
    replaces the task's own backoff for this retry.
    """
    attempts = task.status.attempts + 1
    freed, history = _end_lease(task, now, outcome, reason)
    ops: Patch = [
        *fence.tests(),
        {"op": "add", "path": "/status/lease", "value": freed},
        {"op": "add", "path": "/status/history", "value": history},
        {"op": "add", "path": "/status/attempts", "value": attempts},
    ]
    if result is not None:
        ops.append({"op": "add", "path": "/status/result", "value": _result(result)})
    return ops + _retry_or_fail(task, now, attempts, reason, retry, backoff_seconds)


def _retry_or_fail(
    task: Task,
    now: datetime,
    attempts: int,
    reason: str,
    retry: bool = True,
    backoff_seconds: float | None = None,
) -> Patch:
    """After a counted attempt: Failed when attempts are used up (or a retry cannot help),
    else back off or retry."""
    if not retry or attempts >= task.spec.max_attempts:
        completion = {"op": "add", "path": "/status/completionTime", "value": timestamp(now)}
        return [completion, *_phase_ops(TaskPhase.FAILED, reason, attempts)]
    delay = task.spec.backoff_seconds if backoff_seconds is None else backoff_seconds
    if delay > 0:
        retry_after = now + timedelta(seconds=delay)
        backoff = {"op": "add", "path": "/status/retryAfter", "value": timestamp(retry_after)}
        return [backoff, *_phase_ops(TaskPhase.HELD, HELD_BACKOFF, attempts)]
    return _phase_ops(TaskPhase.PENDING, reason, attempts)


def count_attempt(task: Task, now: datetime, *, reason: str) -> Patch:
    """Operator: count the attempt of a free Held task, e.g. a timed-out one whose holder
    acknowledged the cancel (release(hold=True) counts nothing). CAS on phase and lease."""
    lease = task.status.lease
    attempts = task.status.attempts + 1
    return [
        {"op": "test", "path": "/status/phase", "value": task.status.phase},
        {"op": "test", "path": "/status/lease/holder", "value": lease.holder},
        {"op": "test", "path": "/status/lease/epoch", "value": lease.epoch},
        {"op": "add", "path": "/status/attempts", "value": attempts},
        *_retry_or_fail(task, now, attempts, reason),
    ]


def release(
    task: Task, fence: Fence, now: datetime, *, outcome: str, reason: str, hold: bool
) -> Patch:
    """Give the task back without counting an attempt.

    Graceful shutdown releases into Pending so another provider takes it at once; a
    provider acknowledging spec.cancel releases into Held so the operator decides.
    """
    freed, history = _end_lease(task, now, outcome, reason)
    phase = TaskPhase.HELD if hold else TaskPhase.PENDING
    return [
        *fence.tests(),
        {"op": "add", "path": "/status/lease", "value": freed},
        {"op": "add", "path": "/status/history", "value": history},
        *_phase_ops(phase, HELD_CANCEL_ACK if hold else reason, task.status.attempts),
    ]


def set_phase(task: Task, phase: TaskPhase, reason: str, now: datetime) -> Patch:
    """Operator: move a free task between Pending, Held and terminal phases (CAS on phase)."""
    lease = task.status.lease
    ops: Patch = [
        {"op": "test", "path": "/status/phase", "value": task.status.phase},
        {"op": "test", "path": "/status/lease/holder", "value": lease.holder},
        {"op": "test", "path": "/status/lease/epoch", "value": lease.epoch},
        *_phase_ops(phase, reason, task.status.attempts),
    ]
    if phase in (TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.CANCELLED):
        ops.append({"op": "add", "path": "/status/completionTime", "value": timestamp(now)})
    return ops
