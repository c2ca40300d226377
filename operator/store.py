"""What the operator knows: BatchJobs and a small row per Task, fed by watch events.

The store is the operator's index. It keeps small tuples, never Task bodies (params,
history and results stay in the API server), and it marks a job dirty whenever one of
its objects changes so that the reconciler wakes for exactly that job.
"""

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import ValidationError
from taskmill.operator.floors import PendingFloors
from taskmill.operator.indexranges import EMPTY, IndexRanges
from taskmill.operator.metrics import TaskTransitions
from taskmill.operator.observer import ObserverClock, Sight

from taskmill.api import (
    BatchJob,
    ObjectMeta,
    Task,
    TaskLease,
    TaskPhase,
    TaskSpec,
    TaskStatus,
)
from taskmill.api.common import ACTIVE_TASK_PHASES, TERMINAL_TASK_PHASES
from taskmill.api.meta import LABEL_NOMINEE

log = logging.getLogger(__name__)

JobKey = tuple[str, str]  # (namespace, name)
TaskKey = tuple[str, str]
# (namespace, job name, controller uid): the Tasks of one incarnation of a job. A job
# deleted and re-created under its name has a new uid; Tasks the earlier one left behind
# (orphaned, or waiting for the garbage collector) sit under the old uid, or under "".
OwnedKey = tuple[str, str, str]
# What delete_task reads of a Task besides its namespace and name.
TASK_TOMBSTONE_FIELDS = ("batchJob", "index")


@dataclass(frozen=True, slots=True)
class TaskRow:
    """The part of a Task the reconciler decides on."""

    name: str
    uid: str
    index: int
    capability: str
    phase: TaskPhase
    reason: str
    attempts: int
    holder: str
    epoch: int
    renew_time: datetime | None
    lease_seconds: int
    retry_after: datetime | None
    start_time: datetime | None
    cancel: bool
    cancel_reason: str
    timeout_seconds: int | None
    max_attempts: int
    backoff_seconds: int
    resource_version: str
    # The holder's presence Lease instance that keeps this lease alive ("": none).
    presence_instance: str = ""
    nominee: str = ""  # the provider nominated to take it first ("": nobody)
    priority: int = 0

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_TASK_PHASES

    @property
    def active(self) -> bool:
        """Leased or running: a provider holds it."""
        return self.phase in ACTIVE_TASK_PHASES

    @property
    def lease_record(self) -> tuple[str, int, datetime | None]:
        """What the observer clock watches for change: a renewal moves renew_time."""
        return (self.holder, self.epoch, self.renew_time)

    @property
    def state_record(self) -> tuple[str, int, TaskPhase, bool]:
        """What a holder's attempt is doing; renewals leave it alone. Its observer time is
        when the attempt started running, or when the cancel was first seen."""
        return (self.holder, self.epoch, self.phase, self.cancel)

    def as_task(self, batch_job: str) -> Task:
        """A Task model with the fields the operator's CAS writes test."""
        return Task(
            metadata=ObjectMeta(name=self.name, uid=self.uid),
            spec=TaskSpec(
                batch_job=batch_job,
                index=self.index,
                capability=self.capability,
                max_attempts=self.max_attempts,
                backoff_seconds=self.backoff_seconds,
            ),
            status=TaskStatus(
                phase=self.phase,
                reason=self.reason,
                attempts=self.attempts,
                lease=TaskLease(holder=self.holder, epoch=self.epoch),
            ),
        )


def task_row(task: Task) -> TaskRow:
    s, lease = task.status, task.status.lease
    return TaskRow(
        name=task.metadata.name,
        uid=task.metadata.uid,
        index=task.spec.index,
        capability=task.spec.capability,
        phase=TaskPhase(s.phase),
        reason=s.reason,
        attempts=s.attempts,
        holder=lease.holder,
        epoch=lease.epoch,
        renew_time=lease.renew_time,
        lease_seconds=lease.duration_seconds or task.spec.lease_duration_seconds,
        retry_after=s.retry_after,
        start_time=s.start_time,
        cancel=task.spec.cancel,
        cancel_reason=task.spec.cancel_reason,
        timeout_seconds=task.spec.timeout_seconds,
        max_attempts=task.spec.max_attempts,
        backoff_seconds=task.spec.backoff_seconds,
        resource_version=task.metadata.resource_version,
        presence_instance=lease.presence_instance or "",
        nominee=task.metadata.labels.get(LABEL_NOMINEE, ""),
        priority=task.spec.priority,
    )


def _pending_priority(row: TaskRow | None) -> int | None:
    return row.priority if row is not None and row.phase == TaskPhase.PENDING else None


def _newer(new_rv: str, old_rv: str) -> bool:
    """Whether an object version is newer than the one stored.

    resourceVersions are opaque to clients, but etcd-backed servers issue increasing
    integers; comparing them keeps a late answer to our own write from overwriting a
    newer watch event, and the watch's echo of a write already stored from its answer
    from waking the reconciler again. Anything unparsable is taken as newer.
    """
    try:
        return int(new_rv) > int(old_rv)
    except ValueError:
        return True


class FinishedTask(NamedTuple):
    phase: TaskPhase
    uid: str  # deleted only as this very Task (a precondition), never a namesake


@dataclass
class JobTasks:
    """One job's Tasks: a row per unfinished Task, only the phase of finished ones, and
    the finished indexes the job's status records (`adopt`).

    Finished phases are final (the CRD's CEL rules forbid leaving them), so a finished
    Task shrinks to its phase: a 100,000-task job keeps rows only for its live Tasks,
    and every pass of the reconciler costs in proportion to those. A finished index
    counts once: from the record when status holds it (its Task may be gone), else
    from its Task.
    """

    live: dict[str, TaskRow] = field(default_factory=dict)
    finished: dict[int, FinishedTask] = field(default_factory=dict)  # Tasks that exist
    unrecorded: dict[int, TaskPhase] = field(default_factory=dict)  # finished, not in status
    unrecorded_counts: Counter[TaskPhase] = field(default_factory=Counter)
    failed: dict[int, str] = field(default_factory=dict)  # index -> name, Tasks that exist
    first_start: datetime | None = None
    indexes: set[int] = field(default_factory=set)  # every index that has a Task
    cursor: int = 0  # every index below is made
    succeeded_record: IndexRanges = EMPTY  # status.succeededIndexes
    failed_record: IndexRanges = EMPTY  # status.failedIndexes

    def put(self, row: TaskRow) -> None:
        if row.start_time is not None and (
            self.first_start is None or row.start_time < self.first_start
        ):
            self.first_start = row.start_time
        self.indexes.add(row.index)
        if not row.terminal:
            self.live[row.name] = row
            return
        self.live.pop(row.name, None)
        if row.index not in self.finished:
            self.finished[row.index] = FinishedTask(row.phase, row.uid)
            if not self.recorded(row.index):
                self.unrecorded[row.index] = row.phase
                self.unrecorded_counts[row.phase] += 1
            if row.phase == TaskPhase.FAILED:
                self.failed[row.index] = row.name

    def remove(self, name: str, index: int) -> None:
        self.live.pop(name, None)
        self.finished.pop(index, None)
        self._forget_unrecorded(index)
        self.failed.pop(index, None)
        self.indexes.discard(index)
        if not self.recorded(index):
            self.cursor = min(self.cursor, index)  # a lost Task is made again

    def recorded(self, index: int) -> bool:
        """Whether status records the index as finished: it is never made again."""
        return index in self.succeeded_record or index in self.failed_record

    def made(self, index: int) -> bool:
        """Whether the index has a Task, or had one that status records as finished."""
        return index in self.indexes or self.recorded(index)

    def first_unmade(self, start: int, total: int) -> int:
        """The lowest index >= start never made: where the next scan for missing Tasks may
        begin. Recorded ranges are stepped over whole (a restarted operator's first pass
        over a million recorded indexes is a few lookups)."""
        index = start
        while index < total:
            if index in self.indexes:
                index += 1
                continue
            end = max(self.succeeded_record.span_end(index), self.failed_record.span_end(index))
            if end == index:
                break
            index = end
        return index

    def adopt(self, succeeded: IndexRanges, failed: IndexRanges) -> None:
        """Take the record status holds now. It only grows (the operator writes it, each
        time a superset), so only unrecorded indexes need a look."""
        if (succeeded, failed) == (self.succeeded_record, self.failed_record):
            return
        grew = succeeded.covers(self.succeeded_record) and failed.covers(self.failed_record)
        self.succeeded_record, self.failed_record = succeeded, failed
        if grew:
            for index in [i for i in self.unrecorded if self.recorded(i)]:
                self._forget_unrecorded(index)
            return
        self.unrecorded.clear()
        self.unrecorded_counts.clear()
        for index, task in self.finished.items():
            if not self.recorded(index):
                self.unrecorded[index] = task.phase
                self.unrecorded_counts[task.phase] += 1

    def _forget_unrecorded(self, index: int) -> None:
        phase = self.unrecorded.pop(index, None)
        if phase is not None:
            self.unrecorded_counts[phase] -= 1

    @property
    def empty(self) -> bool:
        return not self.indexes


class Store:
    def __init__(
        self,
        monotonic: Callable[[], float],
        sight: Sight | None = None,
        transitions: TaskTransitions | None = None,
    ) -> None:
        self._monotonic = monotonic
        # Metrics of what Tasks went through (taskmill.operator.metrics), if kept.
        self.transitions = transitions
        self.jobs: dict[JobKey, BatchJob] = {}
        # The same jobs by namespace: what a job's dependsOn can name, read on every pass.
        self._by_namespace: dict[str, dict[str, BatchJob]] = {}
        # (namespace, name) -> the names of the jobs whose dependsOn names it
        self._dependents: dict[JobKey, set[str]] = {}
        self.tasks: dict[OwnedKey, JobTasks] = {}
        self._owners: dict[JobKey, set[str]] = {}  # controller uids seen per job key
        # Lease expiry pauses while the operator cannot see (taskmill.operator.observer).
        self.leases: ObserverClock[TaskKey] = ObserverClock(sight)
        # When the operator first saw each held Task's state (running, cancel requested):
        # timeouts and the cancel acknowledgement deadline run on this clock, never on a
        # provider's timestamps, and, like expiry, never across a break in sight.
        self.states: ObserverClock[TaskKey] = ObserverClock(sight)
        # The least priority of each capability's Pending Tasks: only tasks at it are
        # nominated (taskmill.operator.floors).
        self.floors = PendingFloors()
        self.dirty: set[JobKey] = set()
        self.wake = asyncio.Event()

    def mark(self, key: JobKey) -> None:
        self.dirty.add(key)
        self.wake.set()

    def mark_held(self, holders: Set[tuple[str, str]] | None = None) -> None:
        """Wake every job with a held lease (held by one of these (namespace, holder)s,
        if given): after a break in sight its expiry is due afresh, and after its
        holder's presence lapsed it ends at once; nothing else would wake the job."""
        self._mark(
            lambda namespace, row: (
                row.active and (holders is None or (namespace, row.holder) in holders)
            )
        )

    def mark_nominated(self, nominees: Set[tuple[str, str]]) -> None:
        """Wake every job with a Pending task nominated to one of these (namespace,
        provider)s: they are gone or draining, and the nomination must come off."""
        self._mark(
            lambda namespace, row: (
                row.phase == TaskPhase.PENDING and (namespace, row.nominee) in nominees
            )
        )

    def _pending_moved(
        self, namespace: str, capability: str, old: TaskRow | None, new: TaskRow | None
    ) -> None:
        """Count a Task's move in or out of Pending. When the floor drops below a known
        one, wake the jobs whose Pending tasks are nominated above it: the nomination
        must come off. (From no floor at all there was no Pending task to wake.)"""
        key = (namespace, capability)
        before = self.floors.move(key, _pending_priority(old), _pending_priority(new))
        after = self.floors.floor(*key)
        if after < before < math.inf:
            self._mark(
                lambda ns, row: (
                    ns == namespace
                    and row.capability == capability
                    and row.phase == TaskPhase.PENDING
                    and row.nominee != ""
                    and row.priority > after
                )
            )

    def _mark(self, wanted: Callable[[str, TaskRow], bool]) -> None:
        for (namespace, job, _owner), tasks in self.tasks.items():
            if any(wanted(namespace, row) for row in tasks.live.values()):
                self.dirty.add((namespace, job))
        self.wake.set()

    def take_dirty(self) -> set[JobKey]:
        dirty, self.dirty = self.dirty, set()
        self.wake.clear()
        return dirty

    # BatchJobs

    def put_job(self, body: dict[str, Any]) -> None:
        try:
            job = BatchJob.model_validate(body)
        except ValidationError as e:
            meta = body.get("metadata", {})
            log.warning(
                "skipping malformed BatchJob",
                extra={"namespace": meta.get("namespace"), "job": meta.get("name"), "error": e},
            )
            return
        key = (job.metadata.namespace, job.metadata.name)
        old = self.jobs.get(key)
        if old is None or _newer(job.metadata.resource_version, old.metadata.resource_version):
            self._index(old, job)
            self.jobs[key] = job
            self._by_namespace.setdefault(key[0], {})[key[1]] = job
            self._mark_with_dependents(*key)

    def delete_job(self, namespace: str, name: str) -> None:
        old = self.jobs.pop((namespace, name), None)
        if old is not None:
            self._index(old, None)
            jobs = self._by_namespace[namespace]
            del jobs[name]
            if not jobs:
                del self._by_namespace[namespace]
        self._mark_with_dependents(namespace, name)

    def _index(self, old: BatchJob | None, new: BatchJob | None) -> None:
        """Move a job's dependsOn entries in the dependents index from `old` to `new`."""
        job = new if new is not None else old
        if job is None:
            return
        namespace, name = job.metadata.namespace, job.metadata.name
        before = set(old.spec.depends_on or ()) if old is not None else set()
        after = set(new.spec.depends_on or ()) if new is not None else set()
        for predecessor in before - after:
            dependents = self._dependents[(namespace, predecessor)]
            dependents.discard(name)
            if not dependents:
                del self._dependents[(namespace, predecessor)]
        for predecessor in after - before:
            self._dependents.setdefault((namespace, predecessor), set()).add(name)

    def _mark_with_dependents(self, namespace: str, name: str) -> None:
        """A job's change can decide its dependents' fate (dependsOn): wake them too."""
        self.dirty.add((namespace, name))
        for other in self._dependents.get((namespace, name), ()):
            self.dirty.add((namespace, other))
        self.wake.set()

    # Tasks

    def put_task(self, body: dict[str, Any], *, only_if_new: bool = False) -> None:
        try:
            task = Task.model_validate(body)
        except ValidationError as e:
            log.warning(
                "skipping malformed Task",
                extra={"task": body.get("metadata", {}).get("name"), "error": e},
            )
            return
        meta = task.metadata
        job_key = (meta.namespace, task.spec.batch_job)
        tasks = self._owned(job_key, meta.controller_uid)
        if task.spec.index in tasks.finished:
            return  # finished is final: later versions change nothing we track
        old = tasks.live.get(meta.name)
        if old is not None and (
            only_if_new or not _newer(meta.resource_version, old.resource_version)
        ):
            return
        row = task_row(task)
        tasks.put(row)
        self._pending_moved(meta.namespace, row.capability, old, row)
        key, now = (meta.namespace, meta.name), self._monotonic()
        if self.transitions is not None:
            self.transitions.observe(key, None if old is None else old.phase, task, now)
        if row.active:
            self.leases.observe(key, row.lease_record, now)
            self.states.observe(key, row.state_record, now)
        else:
            self.leases.forget(key)
            self.states.forget(key)
        self.mark(job_key)

    def _owned(self, job_key: JobKey, owner: str) -> JobTasks:
        owners = self._owners.setdefault(job_key, set())
        owners.add(owner)
        return self.tasks.setdefault((*job_key, owner), JobTasks())

    def delete_task(self, body: dict[str, Any]) -> None:
        """A deleted Task, under the owner it names; a relist's tombstone names none, and
        the Task is gone under every owner that has its index."""
        meta, spec = body.get("metadata", {}), body.get("spec", {})
        job_key = (meta.get("namespace", ""), spec.get("batchJob", ""))
        name, index = meta.get("name", ""), int(spec.get("index", -1))
        named = ObjectMeta.model_validate(meta).controller_uid
        under_named = self.tasks.get((*job_key, named))
        if under_named is not None and index in under_named.indexes:
            owners = {named}
        else:
            owners = set(self._owners.get(job_key, ()))
        self._remove(job_key, owners, name, index)

    def deleted(self, job_key: JobKey, owner: str, name: str, index: int) -> None:
        """A Task the operator itself deleted: gone from the index at once, so the next
        pass does not delete it again before the watch reports it."""
        self._remove(job_key, {owner}, name, index)

    def _remove(self, job_key: JobKey, owners: Set[str], name: str, index: int) -> None:
        for owner in owners:
            tasks = self.tasks.get((*job_key, owner))
            if tasks is None or index not in tasks.indexes:
                continue
            gone = tasks.live.get(name)
            if gone is not None:
                self._pending_moved(job_key[0], gone.capability, gone, None)
            tasks.remove(name, index)
            job = self.jobs.get(job_key)
            if tasks.empty and (job is None or job.metadata.uid != owner):
                self._drop((*job_key, owner))
        self.leases.forget((job_key[0], name))
        self.states.forget((job_key[0], name))
        if self.transitions is not None:
            self.transitions.forget((job_key[0], name))
        self.mark(job_key)

    def _drop(self, key: OwnedKey) -> None:
        del self.tasks[key]
        owners = self._owners[(key[0], key[1])]
        owners.discard(key[2])
        if not owners:
            del self._owners[(key[0], key[1])]

    def job_tasks(self, key: JobKey, uid: str) -> JobTasks:
        """The Tasks of the job with this uid: only these count for it."""
        return self._owned(key, uid)

    def foreign_tasks(self, key: JobKey, uid: str) -> list[tuple[str, JobTasks]]:
        """(owner uid, Tasks) of every other owner of Tasks named for this job: left by an
        earlier job of the same name, never to be adopted or counted."""
        return [
            (owner, self.tasks[(*key, owner)])
            for owner in self._owners.get(key, ())
            if owner != uid
        ]

    def dependents(self, namespace: str, name: str) -> list[BatchJob]:
        """The jobs of the namespace whose dependsOn names this one."""
        names = self._dependents.get((namespace, name), ())
        return [self.jobs[(namespace, n)] for n in names if (namespace, n) in self.jobs]

    def namespace_jobs(self, namespace: str) -> Mapping[str, BatchJob]:
        """The namespace's jobs by name (a live view: read it, never keep it)."""
        return self._by_namespace.get(namespace, {})

    def forget_job(self, key: JobKey) -> None:
        """Drop what is left of a deleted job's tasks once nothing refers to them."""
        for owner in self._owners.pop(key, set()):
            tasks = self.tasks.pop((*key, owner))
            for name, row in tasks.live.items():
                self._pending_moved(key[0], row.capability, row, None)
                self.leases.forget((key[0], name))
                self.states.forget((key[0], name))
