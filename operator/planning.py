"""What the reconciler must do for one job now: a pure function of the job and its rows.

`plan` reads the job's task rows and the clocks and returns the writes to make, plus
when to look again. The reconciler executes the writes; the next watch events change
the rows and the next plan sees the result. Every write is idempotent or a
compare-and-swap, so planning from a slightly stale index costs at most a rejected
write, never a wrong one.
"""

import math
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from datetime import datetime

from taskmill.operator.observer import stale_at
from taskmill.operator.splitting import missing_indexes
from taskmill.operator.store import JobTasks, TaskRow

from taskmill.api import BatchJob, TaskPhase
from taskmill.api.protocol import (
    HELD_BACKOFF,
    HELD_CANCEL_ACK,
    HELD_PARALLELISM,
    HELD_SUSPENDED,
)

# spec.cancelReason values
TIMEOUT = "Timeout"
JOB_CANCELLED = "JobCancelled"
DEADLINE_EXCEEDED = "DeadlineExceeded"
JOB_FAILED = "JobFailed"  # rejected after it started, or failed with tasks still live
# Why the operator ends a holder's lease itself (taskmill.operator.leaseends)
LEASE_EXPIRED = "LeaseExpired"  # no renewal seen for the duration plus a grace
CANCEL_IGNORED = "CancelNotAcknowledged"  # renewing, but spec.cancel not acknowledged
PROVIDER_LOST = "ProviderLost"  # the holder's presence Lease lapsed: all its leases end


@dataclass(frozen=True)
class Situation:
    """Everything `plan` reads besides the rows."""

    job: BatchJob
    total: int  # tasks the job splits into
    eligible: bool  # accepted, predecessors succeeded, not finished: may create tasks
    stop_reason: str  # JOB_CANCELLED, JOB_FAILED or DEADLINE_EXCEEDED when the job must stop
    max_live: int  # bound on the job's non-terminal Tasks
    now: datetime  # wall clock: retryAfter, task timeouts
    now_mono: float  # observer clock: lease expiry
    lease_seen: Callable[[str], float | None]  # observer time a task's lease last changed
    grace_seconds: float
    # observer time a held task's state (running, cancel requested) was first seen
    state_seen: Callable[[str], float | None] = lambda name: None
    cancel_grace_seconds: float = math.inf  # for the holder to acknowledge spec.cancel
    occupied: Set[int] = frozenset()  # indexes whose name a Task of another owner holds
    # whether a holder's presence Lease lapsed (the provider is gone, whatever its
    # task leases still promise)
    holder_lost: Callable[[str], bool] = lambda holder: False
    # whether a provider nominated for Pending tasks may no longer take them (gone or
    # draining): providers that watch only their own nominees would not see them
    nominee_gone: Callable[[str], bool] = lambda nominee: False
    # the least priority of the Pending Tasks of a capability in the namespace, any job's
    # (taskmill.operator.floors): a task nominated above it must be everyone's
    pending_floor: Callable[[str], float] = lambda capability: math.inf


@dataclass
class Plan:
    create: list[int] = field(default_factory=list)
    set_phase: list[tuple[TaskRow, TaskPhase, str]] = field(default_factory=list)
    cancel: list[tuple[TaskRow, str]] = field(default_factory=list)  # set spec.cancel
    # (row, LEASE_EXPIRED or CANCEL_IGNORED): the operator ends the lease itself
    expire: list[tuple[TaskRow, str]] = field(default_factory=list)
    count_attempt: list[TaskRow] = field(default_factory=list)  # timed out and acknowledged
    # Pending, and its nominee gone or a lower priority waiting
    unnominate: list[TaskRow] = field(default_factory=list)
    wake_in: float = math.inf  # seconds until something is due

    def wake_at(self, seconds: float) -> None:
        self.wake_in = min(self.wake_in, max(0.0, seconds))

    @property
    def empty(self) -> bool:
        return not (
            self.create
            or self.set_phase
            or self.cancel
            or self.expire
            or self.count_attempt
            or self.unnominate
        )


def plan(s: Situation, tasks: JobTasks) -> Plan:
    p = Plan()
    live = list(tasks.live.values())
    for row in live:
        if row.active:
            _plan_held_lease(s, row, p)
        elif row.phase == TaskPhase.HELD and row.reason == HELD_CANCEL_ACK:
            _plan_acknowledged(s, row, p)
        elif s.stop_reason:
            p.set_phase.append((row, TaskPhase.CANCELLED, s.stop_reason))
    if not s.stop_reason:
        _plan_leasable(s, tasks, live, p)
        p.unnominate = [row for row in live if _unnominate(s, row)]
    return p


def _unnominate(s: Situation, row: TaskRow) -> bool:
    """Whether a Pending task's nomination must come off, so that every provider sees
    it: its nominee will not take it, or it outranks tasks that wait elsewhere and a
    provider busy with those would not see it (taskmill.operator.floors)."""
    if row.phase != TaskPhase.PENDING or not row.nominee:
        return False
    return s.nominee_gone(row.nominee) or row.priority > s.pending_floor(row.capability)


def _plan_held_lease(s: Situation, row: TaskRow, p: Plan) -> None:
    """A provider holds the task: expire a silent lease, stop work that must stop.

    Every duration runs on the observer clock (when this operator saw the lease or the
    state change), never on a timestamp a provider wrote with its own clock.
    """
    seen = s.lease_seen(row.name)
    if seen is not None and s.holder_lost(row.holder):
        p.expire.append((row, PROVIDER_LOST))
        return
    if seen is not None:
        expires = stale_at(seen, row.lease_seconds, s.grace_seconds)
        if s.now_mono >= expires:
            p.expire.append((row, LEASE_EXPIRED))
            return
        p.wake_at(expires - s.now_mono)
    since = s.state_seen(row.name)
    if row.cancel:
        if since is not None:
            deadline = since + s.cancel_grace_seconds
            if s.now_mono >= deadline:
                p.expire.append((row, CANCEL_IGNORED))
            else:
                p.wake_at(deadline - s.now_mono)
        return
    if s.stop_reason:
        p.cancel.append((row, s.stop_reason))
        return
    if row.phase == TaskPhase.RUNNING and row.timeout_seconds is not None and since is not None:
        timeout_at = since + row.timeout_seconds
        if s.now_mono >= timeout_at:
            p.cancel.append((row, TIMEOUT))
        else:
            p.wake_at(timeout_at - s.now_mono)


def _plan_acknowledged(s: Situation, row: TaskRow, p: Plan) -> None:
    """The holder stopped on spec.cancel: cancel for good, or count the attempt."""
    if s.stop_reason or row.cancel_reason in (JOB_CANCELLED, JOB_FAILED, DEADLINE_EXCEEDED):
        p.set_phase.append((row, TaskPhase.CANCELLED, s.stop_reason or row.cancel_reason))
    else:
        p.count_attempt.append(row)


def _plan_leasable(s: Situation, tasks: JobTasks, live: list[TaskRow], p: Plan) -> None:
    """Suspend, parallelism, backoff and splitting: which tasks providers may see."""
    pending = sorted((r for r in live if r.phase == TaskPhase.PENDING), key=_index)
    held = [r for r in live if r.phase == TaskPhase.HELD]
    releasable = sorted(_releasable(s, held, p), key=_index)
    if s.job.spec.suspend:
        for row in [*pending, *releasable]:
            if row.reason != HELD_SUSPENDED:
                p.set_phase.append((row, TaskPhase.HELD, HELD_SUSPENDED))
        return
    budget = _budget(s, live, pending)
    if budget < 0:
        for row in pending[budget:]:
            p.set_phase.append((row, TaskPhase.HELD, HELD_PARALLELISM))
        budget = 0
    released = releasable[:budget]
    for row in released:
        p.set_phase.append((row, TaskPhase.PENDING, ""))
    for row in releasable[budget:]:
        if row.reason == HELD_SUSPENDED:
            p.set_phase.append((row, TaskPhase.HELD, HELD_PARALLELISM))
    budget -= len(released)
    if s.eligible:
        room = min(budget, s.max_live - len(live))
        if room > 0:
            p.create = list(missing_indexes(tasks.made, tasks.cursor, s.total, room, s.occupied))


def _releasable(s: Situation, held: Iterable[TaskRow], p: Plan) -> Iterable[TaskRow]:
    """Held tasks that may become Pending now; schedules a wake for backoffs not yet due."""
    for row in held:
        if row.reason in (HELD_SUSPENDED, HELD_PARALLELISM):
            yield row
        elif row.reason == HELD_BACKOFF:
            if row.retry_after is None or row.retry_after <= s.now:
                yield row
            else:
                p.wake_at((row.retry_after - s.now).total_seconds())


def _budget(s: Situation, live: list[TaskRow], pending: list[TaskRow]) -> int:
    """How many more tasks may become leasable: parallelism bounds leased + Pending."""
    parallelism = s.job.spec.parallelism
    if parallelism is None:
        return s.max_live
    return parallelism - len(pending) - sum(1 for r in live if r.active)


def _index(row: TaskRow) -> int:
    return row.index
