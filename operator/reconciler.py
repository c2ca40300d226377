"""The one reconcile loop: per dirty or due job, plan, write, and update status.

There is no timer or daemon per job or per Task. The loop sleeps until a watch event
marks a job dirty or until the earliest thing it scheduled falls due (a lease that may
expire, a backoff that ends, a deadline, the status write throttle), then handles only
those jobs.
"""

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from taskmill.operator.assessment import Assessment, assess, finished
from taskmill.operator.counting import Tally, tally
from taskmill.operator.events import NORMAL, Recorder, regarding
from taskmill.operator.jobstatus import JobFacts, compute_status, status_changed
from taskmill.operator.metrics import OperatorMetrics
from taskmill.operator.nomination import Nominations, floor_with
from taskmill.operator.ownership import ForeignTasks, foreign_tasks
from taskmill.operator.planning import LEASE_EXPIRED, PROVIDER_LOST, Plan, Situation, plan
from taskmill.operator.presence import LapseCheck, ProviderPresence
from taskmill.operator.retention import Record, doomed, next_record
from taskmill.operator.splitting import (
    REASON_SPLIT_CHANGED,
    SplitJudgement,
    judge_split,
    split_fingerprint,
    task_capability,
    task_count,
)
from taskmill.operator.statemetrics import snapshot
from taskmill.operator.store import JobKey, JobTasks, Store, TaskRow
from taskmill.operator.taskwrites import TRANSIENT, TaskWriter
from taskmill.operator.ttl import dependents_holding, ttl_expires_at
from taskmill.operator.validation import Problem, validate

from taskmill.api import BatchJob
from taskmill.api.deadlines import next_deadline
from taskmill.kube import KubeApi
from taskmill.kube.paths import BATCHJOBS

log = logging.getLogger(__name__)

RETRY_AFTER_ERROR = 5.0
LAPSES = (LEASE_EXPIRED, PROVIDER_LOST)
PUBLISH_SECONDS = 1.0  # how stale the exported state gauges may be
FAILED_CREATE = "FailedCreate"
# Conditions whose change to this status is worth an Event on the BatchJob.
EVENT_CONDITIONS = {"Accepted": "False", "ProvidersAvailable": "False", "Failed": "True"}


@dataclass(frozen=True)
class Settings:
    max_live_tasks: int = 500
    # Expiry is measured on the operator's own clock from when it saw the lease change,
    # so skew between nodes cannot matter; holders renew every third of the duration, so
    # a second of grace is already two renewal intervals' slack short of a false expiry.
    grace_seconds: float = 1.0
    # How long a holder that keeps renewing has to acknowledge spec.cancel before the
    # operator ends its lease itself: the provider's kill grace (SIGTERM to SIGKILL, 5 s
    # by default) plus a margin for its renewal interval and the round trips.
    cancel_grace_seconds: float = 30.0
    status_interval_seconds: float = 1.0  # at most one status write per job per interval
    # After a wake-up, let a burst of watch events land before planning: one pass per
    # job per burst instead of one per event (a pass costs as much as the job's live rows).
    coalesce_seconds: float = 0.05
    write_concurrency: int = 16


@dataclass(frozen=True)
class SpecFacts:
    """What a job's spec yields, unchanged until its generation changes."""

    total: int  # tasks the spec splits into
    fingerprint: str  # of the split fields (splitting.split_fingerprint)
    problems: list[Problem]
    capabilities: frozenset[str]


@dataclass(frozen=True)
class Findings:
    """What one pass judged about a job, besides its task counts."""

    assessment: Assessment
    split: SplitJudgement
    foreign: ForeignTasks
    create_failure: str = ""  # the API server's message when it refused to create a Task

    def facts(self, t: Tally, record: Record) -> JobFacts:
        a = self.assessment
        return JobFacts(
            succeeded_indexes=str(record.succeeded),
            failed_indexes=str(record.failed),
            accepted=a.accepted,
            rejection_reason=a.rejection_reason or "Rejected",
            rejection_message=a.rejection_message,
            dependencies=a.dependencies,
            providers_available=a.providers_available,
            missing_capabilities=a.missing_capabilities,
            first_start_time=t.first_start_time,
            running_terminating=t.counts.leased if a.stop_reason else t.terminating,
            split=self.split.record,
            split_changed=self.split.changed,
            foreign_tasks=self.foreign.message,
            create_failure=self.create_failure,
        )


class Reconciler:
    def __init__(
        self,
        kube: KubeApi,
        store: Store,
        presence: ProviderPresence | None,
        recorder: Recorder,
        settings: Settings,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        metrics: OperatorMetrics | None = None,
    ) -> None:
        self._kube = kube
        self._store = store
        self._presence = presence
        self._lapses = None if presence is None else LapseCheck(kube, presence, monotonic)
        self._recorder = recorder
        self._settings = settings
        self._wall = wall
        self._mono = monotonic
        self._writes = TaskWriter(kube, store, recorder, settings.write_concurrency)
        self._due: dict[JobKey, float] = {}
        self._last_status_write: dict[JobKey, float] = {}
        self._live: frozenset[str] | None = None
        self._lost: frozenset[tuple[str, str]] = frozenset()  # (namespace, identity)
        self._takers: frozenset[tuple[str, str]] = frozenset()  # who takes nominees
        # per job: the (uid, generation) read, and what its spec yields
        self._spec_facts: dict[JobKey, tuple[tuple[str, int], SpecFacts]] = {}
        # per job: why the API server last refused to create one of its Tasks
        self._create_failures: dict[JobKey, str] = {}
        # per job: the record its status holds, as text and parsed
        self._records: dict[JobKey, tuple[tuple[str, str], Record]] = {}
        self.presence_listed = presence is None
        self._metrics = metrics
        self._published = -math.inf

    async def run(self) -> None:
        while True:
            if self._lapses is not None:
                self._lapses.new_pass()
            self._notice_presence()
            dirty = self._store.take_dirty()
            now = self._mono()
            keys = dirty | {k for k, t in self._due.items() if t <= now}
            for key in keys:
                self._due.pop(key, None)
                wake_in = await self._reconcile_safely(key)
                if wake_in < math.inf:
                    self._due[key] = self._mono() + wake_in
            self._export(keys, now)
            await self._sleep()

    def _export(self, keys: set[JobKey], started: float) -> None:
        """Count the pass, and publish the state gauges at most once a second."""
        if self._metrics is None:
            return
        now = self._mono()
        if keys:
            self._metrics.reconcile_passes.inc()
            self._metrics.reconcile_duration.observe(now - started)
        if now - self._published >= PUBLISH_SECONDS:
            self._published = now
            self._metrics.publish(snapshot(self._store, self._presence, now))

    async def _sleep(self) -> None:
        now = self._mono()
        due = [*self._due.values()]
        if self._presence is not None:
            expiry = self._presence.next_expiry(now)
            if expiry is not None:
                due.append(expiry)
        timeout = max(0.0, min(due) - now) if due else None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._store.wake.wait(), timeout)
            await asyncio.sleep(self._settings.coalesce_seconds)

    def _notice_presence(self) -> None:
        """When the set of served capabilities changes, every job's condition may."""
        if self._presence is None or not self.presence_listed:
            return
        now = self._mono()
        live = self._presence.live_capabilities(now)
        if live != self._live:
            self._live = live
            for key in self._store.jobs:
                self._store.dirty.add(key)
        lost = self._presence.lost_providers(now)
        if lost - self._lost:
            self._store.mark_held(lost - self._lost)
        self._lost = lost
        takers = self._presence.nominee_takers(now)
        if self._takers - takers:
            self._store.mark_nominated(self._takers - takers)
        self._takers = takers

    async def _reconcile_safely(self, key: JobKey) -> float:
        try:
            return await self.reconcile(key)
        except TRANSIENT as e:
            log.warning("reconcile failed; retrying", extra={"job": key, "error": str(e)})
        except Exception:
            log.exception("reconcile crashed; retrying", extra={"job": key})
        if self._metrics is not None:
            self._metrics.reconcile_errors.inc()
        return RETRY_AFTER_ERROR

    async def reconcile(self, key: JobKey) -> float:
        """Bring one job forward; returns seconds until it needs another look."""
        job = self._store.jobs.get(key)
        if job is None:
            self._store.forget_job(key)
            self._last_status_write.pop(key, None)
            self._spec_facts.pop(key, None)
            self._create_failures.pop(key, None)
            self._records.pop(key, None)
            return math.inf
        if job.metadata.deletion_timestamp is not None:
            return math.inf
        now, mono = self._wall(), self._mono()
        tasks = self._store.job_tasks(key, job.metadata.uid)
        self._adopt(job, tasks)
        total, found = self._judge(job, tasks, now)
        a, foreign, recorded = found.assessment, found.foreign, job.status.split
        stopped = bool(a.stop_reason)
        # Planned whatever the assessment: a job that turned invalid after it started
        # still has its running work stopped and its Pending Tasks withdrawn.
        p = await self._plan(self._situation(job, tasks, total, a, foreign, now, mono), tasks)
        if p.create and recorded is None:
            # Record the split before the first Task exists (and show the job's total:
            # creating a large job's first Tasks takes seconds).
            t = tally(tasks, total, stopped=stopped, job=key[1])
            _, written = await self._update_status(
                key, job, found, t, next_record(tasks), now, force=True
            )
            if written:
                job = self._store.jobs[key]
            else:
                p.create = []  # not before the split is on record; the rest still runs
        if p.create and not self.presence_listed:
            # Made once the live providers are known, so that each is nominated (listing
            # them marks every job for a pass).
            p.create = []
        outcome = await self._writes.execute(job, p, now, self._nominations(job, p, mono))
        if foreign.names:
            await self._writes.delete_foreign(job, foreign.names)
        if p.create or stopped:  # a stopped job creates nothing more: nothing to report
            found = replace(
                found, create_failure=await self._note_create(job, outcome.create_error)
            )
        tasks.cursor = tasks.first_unmade(tasks.cursor, total)
        t = tally(tasks, total, stopped=stopped, job=key[1])
        status_wake, _ = await self._update_status(key, job, found, t, next_record(tasks), now)
        stored = self._store.jobs.get(key)
        if stored is not None and stored.metadata.uid == job.metadata.uid:
            job = stored  # the record the status write (or a newer event) holds
        self._adopt(job, tasks)
        wake_in = min(p.wake_in, status_wake, RETRY_AFTER_ERROR if outcome.failed else math.inf)
        wake_in = min(wake_in, await self._retire(job, tasks, total))
        return min(wake_in, await self._collect_finished(job, now))

    async def _plan(self, s: Situation, tasks: JobTasks) -> Plan:
        """The plan, once every lapse it acts on is confirmed: the presence Lease of each
        holder whose bound leases it would end is read back first, and the plan made
        again from what was read (taskmill.operator.presence.LapseCheck)."""
        p = plan(s, tasks)
        if self._lapses is None:
            return p
        namespace = s.job.metadata.namespace
        while await self._lapses.reread(namespace, {r.holder for r, _ in _lapsing(p)}):
            p = plan(s, tasks)
        unread = self._lapses.unread(namespace)
        kept = [(r, kind) for r, kind in _lapsing(p) if r.holder in unread]
        if kept:
            p.expire = [e for e in p.expire if e not in kept]
            p.wake_at(RETRY_AFTER_ERROR)
        return p

    def _adopt(self, job: BatchJob, tasks: JobTasks) -> None:
        """Take the finished indexes the job's status records (operator.retention)."""
        key = (job.metadata.namespace, job.metadata.name)
        text = (job.status.succeeded_indexes, job.status.failed_indexes)
        cached = self._records.get(key)
        if cached is None or cached[0] != text:
            try:
                cached = self._records[key] = (text, Record.parse(*text))
            except ValueError as e:
                # Only a hand-edited status gets here: keep what was adopted, delete nothing
                # more, and say so.
                log.warning("unreadable index record", extra={"job": key, "error": str(e)})
                return
        tasks.adopt(cached[1].succeeded, cached[1].failed)

    async def _retire(self, job: BatchJob, tasks: JobTasks, total: int) -> float:
        """Delete the recorded finished Tasks spec.retention lets go, a bounded batch per
        pass; returns when to look again: at once while more are left, later after a
        failed delete."""
        limit = self._settings.max_live_tasks
        indexes = doomed(tasks, job.spec.retention, total, limit)
        if not indexes:
            return math.inf
        doomed_tasks = [(i, tasks.finished[i].uid) for i in indexes]
        if await self._writes.delete_finished(job, doomed_tasks):
            return RETRY_AFTER_ERROR
        return 0.0 if len(indexes) == limit else math.inf

    def _judge(self, job: BatchJob, tasks: JobTasks, now: datetime) -> tuple[int, Findings]:
        """The job's total and everything judged about it before planning."""
        key = (job.metadata.namespace, job.metadata.name)
        facts = self._read_spec(job)
        foreign = foreign_tasks(
            key[1],
            self._store.foreign_tasks(key, job.metadata.uid),
            self._settings.max_live_tasks,
        )
        recorded = job.status.split
        tasks.cursor = tasks.first_unmade(tasks.cursor, recorded.total if recorded else facts.total)
        split = judge_split(recorded, facts.fingerprint, facts.total, tasks.cursor)
        problems = facts.problems
        if split.fails_job:
            problems = [*problems, (REASON_SPLIT_CHANGED, split.changed)]
        a = assess(
            job, problems, self._store.namespace_jobs(key[0]), self._live, facts.capabilities, now
        )
        return split.record.total, Findings(a, split, foreign, self._create_failures.get(key, ""))

    async def _note_create(self, job: BatchJob, error: str) -> str:
        """Remember why creating failed (the condition shows it until creates succeed again)
        and post a FailedCreate Event when the reason is new."""
        key = (job.metadata.namespace, job.metadata.name)
        if not error:
            self._create_failures.pop(key, None)
        elif self._create_failures.get(key) != error:
            self._create_failures[key] = error
            await self._recorder.post(regarding(job), FAILED_CREATE, error)
        return error

    def _read_spec(self, job: BatchJob) -> SpecFacts:
        """Validation and the capabilities read every item or task of a large job: do them
        once per spec generation, not once per pass."""
        key = (job.metadata.namespace, job.metadata.name)
        version = (job.metadata.uid, job.metadata.generation)
        cached = self._spec_facts.get(key)
        if cached is None or cached[0] != version:
            total = task_count(job.spec)
            facts = SpecFacts(
                total, split_fingerprint(job.spec), validate(job), _capabilities(job, total)
            )
            cached = self._spec_facts[key] = (version, facts)
        return cached[1]

    def _situation(
        self,
        job: BatchJob,
        tasks: JobTasks,
        total: int,
        a: Assessment,
        foreign: ForeignTasks,
        now: datetime,
        mono: float,
    ) -> Situation:
        namespace = job.metadata.namespace
        presence = self._presence
        return Situation(
            job=job,
            total=total,
            eligible=a.eligible and not finished(job),
            stop_reason=a.stop_reason,
            max_live=self._settings.max_live_tasks,
            now=now,
            now_mono=mono,
            lease_seen=lambda name: self._lease_seen(namespace, tasks, name),
            grace_seconds=self._settings.grace_seconds,
            state_seen=lambda name: self._store.states.seen_at((namespace, name)),
            cancel_grace_seconds=self._settings.cancel_grace_seconds,
            occupied=foreign.occupied,
            holder_lost=lambda holder: (
                presence is not None and presence.lost(namespace, holder, mono)
            ),
            pending_floor=lambda capability: self._store.floors.floor(namespace, capability),
            nominee_gone=lambda nominee: (
                presence is not None
                and self.presence_listed
                and not presence.takes_nominees(namespace, nominee, mono)
            ),
        )

    def _nominations(self, job: BatchJob, p: Plan, mono: float) -> Nominations | None:
        """Who takes the job's new Tasks first, when the live providers are known; only
        tasks at their capability's priority floor, which the new ones may lower."""
        if not p.create or self._presence is None:
            return None
        namespace = job.metadata.namespace
        live, _ = self._presence.providers(namespace, mono)
        waiting = functools.partial(self._store.floors.floor, namespace)
        return Nominations(live, floor_with(job.spec, p.create, waiting))

    def _lease_seen(self, namespace: str, tasks: JobTasks, name: str) -> float | None:
        """When a held task's lease last counted as renewed: by its own write, or by its
        holder's presence Lease (taskmill.operator.presence)."""
        own = self._store.leases.seen_at((namespace, name))
        row = tasks.live.get(name)
        if self._presence is None or row is None:
            return own
        return self._presence.lease_seen(namespace, row, own)

    async def _update_status(
        self,
        key: JobKey,
        job: BatchJob,
        found: Findings,
        t: Tally,
        record: Record,
        now: datetime,
        *,
        force: bool = False,
    ) -> tuple[float, bool]:
        """Write status when it changed, at most once per interval unless forced; returns
        the next wake and whether the status stored now is the one computed."""
        new = compute_status(job, t.counts, found.facts(t, record), t.failed_tasks, now)
        wake_in = _seconds_until(
            next_deadline(job.spec.deadlines, job.metadata.creation_timestamp, new.start_time, now),
            now,
        )
        if not status_changed(job.status, new):
            return wake_in, True
        last = self._last_status_write.get(key, -math.inf)
        wait = last + self._settings.status_interval_seconds - self._mono()
        if wait > 0 and not force:
            return min(wake_in, wait), False
        self._last_status_write[key] = self._mono()
        # Fenced on the version the status was computed from, as Task writes are fenced on
        # the lease: a replica that lost leadership, or read a stale job, gets a 409
        # instead of overwriting a newer status.
        body = {
            "metadata": {"resourceVersion": job.metadata.resource_version},
            "status": new.wire(),
        }
        try:
            written = await self._kube.merge_patch(BATCHJOBS.path(key[0], key[1], "status"), body)
        except TRANSIENT as e:
            # The rest of the pass (TTL) still runs; the status is computed again once the
            # watch brings the job's newer version (a 409), or after a while.
            log.warning("status write failed", extra={"job": key, "error": str(e)})
            return min(wake_in, RETRY_AFTER_ERROR), False
        self._store.put_job(written)
        await self._announce(job, new.model_dump(mode="json"), job.status.model_dump(mode="json"))
        return wake_in, True

    async def _announce(self, job: BatchJob, new: dict[str, Any], old: dict[str, Any]) -> None:
        """An Event for each condition that just turned bad (or Failed)."""
        before = {c["type"]: c["status"] for c in old["conditions"]}
        about = regarding(job)
        for c in new["conditions"]:
            bad = EVENT_CONDITIONS.get(c["type"])
            if bad is not None and c["status"] == bad and before.get(c["type"]) != bad:
                await self._recorder.post(about, c["reason"], c["message"] or c["reason"])
        if new["phase"] != old["phase"] and new["phase"] in ("Succeeded", "Cancelled"):
            await self._recorder.post(about, new["phase"], new["phase"], type=NORMAL)

    async def _collect_finished(self, job: BatchJob, now: datetime) -> float:
        """ttlSecondsAfterFinished: delete the job; the garbage collector takes its Tasks."""
        if not finished(job):
            return math.inf
        expires = ttl_expires_at(job.spec, job.status)
        if expires is None:
            return math.inf
        if expires > now:
            return (expires - now).total_seconds()
        meta = job.metadata
        holding = dependents_holding(self._store.dependents(meta.namespace, meta.name))
        if holding:
            # A dependent's change does not wake its predecessor: look again later.
            log.info("TTL waits for dependents", extra={"job": meta.name, "dependents": holding})
            return RETRY_AFTER_ERROR
        log.info("deleting finished BatchJob", extra={"job": meta.name, "ns": meta.namespace})
        await self._writes.delete_job(job)
        return math.inf


def _capabilities(job: BatchJob, total: int) -> frozenset[str]:
    if job.spec.tasks is None:
        return frozenset({job.spec.capability})
    return frozenset(task_capability(job.spec, i) for i in range(total))


def _lapsing(p: Plan) -> list[tuple[TaskRow, str]]:
    """The lease ends a plan makes because a presence Lease looked lapsed: those of
    leases bound to one (a lease its holder renews itself is ended by a compare-and-swap
    on its renewTime, which a racing renewal wins)."""
    return [(r, kind) for r, kind in p.expire if kind in LAPSES and r.presence_instance]


def _seconds_until(instant: datetime | None, now: datetime) -> float:
    return math.inf if instant is None else max(0.0, (instant - now).total_seconds())
