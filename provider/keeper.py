"""The leases this provider holds: their work, what the held-task watch says about
them, and the last write of each.

The keeper is the held-task watch's cache: every event about a task leased to this
identity lands here. Events that arrive while a claim of that task is still in
flight are stashed and replayed once the claim's answer is known.
"""

import asyncio
import logging
import random
import shutil
import tempfile
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from taskmill.provider.background import Background
from taskmill.provider.backoff import RETRY_BACKOFF, sleep_unless
from taskmill.provider.clock import Clock
from taskmill.provider.config import ProviderConfig
from taskmill.provider.context import Context
from taskmill.provider.heartbeat import Heartbeat
from taskmill.provider.held import Held, StopReason
from taskmill.provider.lease_clock import LeaseClock, LeaseTiming, PresenceRenewals
from taskmill.provider.metrics import ProviderMetrics
from taskmill.provider.results import Outcome, error_outcome, own_cancellation, report

from taskmill.api import protocol
from taskmill.api.protocol import Fence, Patch
from taskmill.api.task import Task, TaskLease
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.client import JSON_PATCH
from taskmill.kube.paths import TASKS

log = logging.getLogger(__name__)

REMEMBERED_ENDS = 1024
RELEASED_ON_SHUTDOWN = "ProviderShutdown"
RELEASED_ORPHAN = "ProviderRestarted"
RELEASED_DEADLINE_MISSED = "LeaseDeadlineMissed"
# One final-write request: short, so that retries resume soon after an outage ends.
FINAL_WRITE_TIMEOUT = 10.0

_TRANSIENT = (aiohttp.ClientError, TimeoutError)


class Executor(Protocol):
    """Runs one task's work. Must return soon after ctx.cancelled is set."""

    async def execute(self, task: Task, ctx: Context) -> Outcome: ...


@dataclass(frozen=True)
class Claimed:
    """A claim that won: the task as the server answered, how it is held, when it was sent."""

    task: Task
    timing: LeaseTiming
    sent: float


class Keeper:
    def __init__(
        self,
        api: KubeApi,
        config: ProviderConfig,
        executor: Executor,
        clock: Clock,
        rng: random.Random,
        on_freed: Callable[[], None],
        metrics: ProviderMetrics | None = None,
        presence: PresenceRenewals | None = None,
    ) -> None:
        self._api = api
        self._metrics = metrics
        self._presence = presence
        self._config = config
        self._executor = executor
        self._clock = clock
        self._rng = rng
        self.held: dict[str, Held] = {}
        self.works = Background()
        self.chores = Background()
        self.heartbeat = Heartbeat(
            api, config.namespace, self.held, self.chores, clock, metrics=metrics
        )
        self._on_freed = on_freed
        self._abandon = asyncio.Event()  # set at the end of a shutdown: stop retrying writes
        self._claiming: set[str] = set()
        self._stashed: dict[str, tuple[str, dict[str, Any]]] = {}
        # (name, epoch) of leases this process ended: late events about them are not orphans.
        self._ended: deque[tuple[str, int]] = deque(maxlen=REMEMBERED_ENDS)

    @property
    def load(self) -> int:
        """Slots taken: work running and claims in flight.

        A task whose work is over takes no slot while its outputs upload and its final
        write goes out (its tail), so the next task's claim and staging overlap that
        tail instead of waiting for it. Only one tail per slot is free: a store or an
        API server that stalls cannot make the provider pile up unreported work."""
        tails = sum(1 for held in self.held.values() if held.in_tail)
        overflow = max(0, tails - self._config.concurrency)
        return len(self.held) - tails + overflow + len(self._claiming)

    @property
    def idle(self) -> bool:
        """Nothing held, nothing being claimed, no final write under way."""
        return not self.held and not self._claiming

    def busy_by_capability(self) -> dict[str, int]:
        """Running work by its task's capability (read by the metrics thread, so from a
        copy: the event loop may change `held` meanwhile)."""
        busy: dict[str, int] = {}
        for held in list(self.held.values()):
            if held.in_tail:
                continue
            capability = held.task.spec.capability
            busy[capability] = busy.get(capability, 0) + 1
        return busy

    def stop_all(self, reason: StopReason) -> None:
        for held in list(self.held.values()):
            held.stop(reason)

    def abandon_writes(self) -> None:
        """Final writes still retrying give up (the provider is about to exit)."""
        self._abandon.set()

    # --- claims in flight ------------------------------------------------------

    def claiming(self, name: str) -> None:
        self._claiming.add(name)

    def claimed(self, name: str, won: Claimed | None) -> None:
        """The claim's answer (None when it was lost); then the events stashed meanwhile."""
        self._claiming.discard(name)
        if won is not None:
            self._start(won)
        stashed = self._stashed.pop(name, None)
        if stashed:
            self.apply(*stashed)

    def _start(self, claimed: Claimed) -> None:
        task = claimed.task
        lease = task.status.lease
        held = Held(
            task=task,
            fence=Fence(lease.holder, lease.epoch),
            clock=LeaseClock.start(claimed.timing, claimed.sent, self._bound_to(lease)),
            ctx=Context(
                task,
                kill_grace_seconds=claimed.timing.kill_grace,
                workdir=Path(tempfile.mkdtemp(prefix=f"taskmill-{task.metadata.name}-")),
                on_work_ended=self._on_freed,
            ),
        )
        self.held[held.name] = held
        log.info(
            "task %s: claimed (epoch %d, priority %d)", held.name, lease.epoch, task.spec.priority
        )
        self.works.spawn(self._work(held))
        self.heartbeat.wake()
        if task.spec.cancel:
            held.stop(StopReason.CANCELLED)

    def _bound_to(self, lease: TaskLease) -> PresenceRenewals | None:
        """The presence renewals that keep this lease, if the claim bound it to them. Read
        from the server's answer: an API server whose Task schema predates the binding
        drops the field, and the holder then renews the lease itself."""
        presence = self._presence
        bound = presence is not None and lease.presence_instance == presence.instance
        return presence if bound else None

    # --- the held-task watch (watch.Cache) ---------------------------------------

    def replace(self, objects: list[dict[str, Any]]) -> None:
        """A relist is applied as ADDED events."""
        for obj in objects:
            self.apply("ADDED", obj)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        """An event about a task leased to this identity (or that just stopped being).

        Judged from the raw lease fields first: most events are the echo of this
        provider's own claim or final write, and only news is parsed into a Task."""
        meta = obj.get("metadata", {})
        name = meta.get("name", "")
        if name in self._claiming:
            self._stashed[name] = (event_type, obj)
            return
        lease = (obj.get("status") or {}).get("lease") or {}
        holder, epoch = str(lease.get("holder", "")), int(lease.get("epoch") or 0)
        held = self.held.get(name)
        if held is None:
            self._maybe_release_orphan(event_type, obj, holder, epoch)
            return
        if epoch < held.fence.epoch or held.finishing:
            # An event from before this lease, delivered late; or the final write is
            # under way (its own echo leaves the holder selector: DELETED) and nothing
            # stops it any more.
            return
        if event_type == "DELETED":
            # Deleted, or it left the holder selector: the event carries the last state
            # that matched, so the two look alike. Either way the lease is gone.
            log.warning("task %s: deleted or leased away; abandoning the work", name)
            held.stop(StopReason.GONE)
        elif not held.holds(holder, epoch):
            log.warning("task %s: lease moved on (epoch %d); abandoning the work", name, epoch)
            held.stop(StopReason.LEASE_LOST)
        elif meta.get("resourceVersion") != held.task.metadata.resource_version:
            task = Task.model_validate(obj)
            held.task = task
            if task.spec.cancel and held.stop_reason is None:
                log.info("task %s: cancel requested (%s)", name, task.spec.cancel_reason)
                held.stop(StopReason.CANCELLED)

    def _maybe_release_orphan(
        self, event_type: str, obj: dict[str, Any], holder: str, epoch: int
    ) -> None:
        """A task held under this identity that this process does not know: a claim whose
        answer was lost, or an earlier run under the same pod name. Give it back at once
        instead of leaving it to expire."""
        key = (obj.get("metadata", {}).get("name", ""), epoch)
        if event_type == "DELETED" or holder != self._config.identity or key in self._ended:
            return
        self._ended.append(key)
        log.info("task %s: held under this identity but unknown here; releasing", key[0])
        task = Task.model_validate(obj)
        ops = protocol.release(
            task,
            Fence(holder, epoch),
            self._clock.wall(),
            outcome="Released",
            reason=RELEASED_ORPHAN,
            hold=False,
        )
        self.chores.spawn(self._write_once(task.metadata.name, ops))

    async def _write_once(self, name: str, ops: Patch) -> None:
        try:
            await self._api.json_patch(self._status_path(name), ops)
        except (ApiError, *_TRANSIENT) as e:
            log.warning("task %s: release failed: %s", name, e)

    # --- work and its final write ----------------------------------------------

    async def _work(self, held: Held) -> None:
        started = self._clock.mono()
        try:
            try:
                outcome = await self._executor.execute(held.task, held.ctx)
            except BaseException as e:
                if own_cancellation(e):
                    raise
                # Whatever the work raised fails this task, never the provider.
                log.exception("task %s: executor failed", held.name)
                outcome = error_outcome(e, traceback.format_exc())
            finally:
                held.ctx.end_work()  # the next claim need not wait for the clean-up and write
                await asyncio.to_thread(shutil.rmtree, held.ctx.workdir, ignore_errors=True)
            if self._metrics is not None:
                capability = held.task.spec.capability
                self._metrics.run_duration.labels(capability).observe(self._clock.mono() - started)
            await self._finish(held, outcome)
        finally:
            held.end()
            self.held.pop(held.name, None)
            self._ended.append((held.name, held.fence.epoch))
            self._on_freed()

    async def _finish(self, held: Held, outcome: Outcome) -> None:
        # Work that finished is reported even past the holder's own deadline (after an
        # outage, say): that deadline stops work, not results. The write is fenced, so
        # the API server drops it if the lease moved on meanwhile.
        held.finish()
        reason = held.stop_reason
        if reason is not None and not reason.may_write:
            log.warning("task %s: abandoned (%s); no result written", held.name, reason)
            return
        ops = self._final_patch(held, outcome, reason)
        if self._metrics is not None:
            self._metrics.tasks.labels(held.task.spec.capability, outcome_of(ops)).inc()
        await self._write_final(held, ops)

    def _final_patch(self, held: Held, outcome: Outcome, reason: StopReason | None) -> Patch:
        task, fence, now = held.task, held.fence, self._clock.wall()
        # A cancel is acknowledged even when the deadline overtook its termination.
        cancelled = reason == StopReason.DEADLINE_MISSED and task.spec.cancel
        if reason == StopReason.CANCELLED or cancelled:
            why = task.spec.cancel_reason or "Cancelled"
            return protocol.release(task, fence, now, outcome="Cancelled", reason=why, hold=True)
        released = {
            StopReason.SHUTDOWN: RELEASED_ON_SHUTDOWN,
            StopReason.DEADLINE_MISSED: RELEASED_DEADLINE_MISSED,
        }
        if reason in released:
            return protocol.release(
                task, fence, now, outcome="Released", reason=released[reason], hold=False
            )
        return report(task, fence, now, outcome)

    async def _write_final(self, held: Held, ops: Patch) -> None:
        """The last write of a lease; retried on transient errors until the API server
        answers it, however long that takes, unless the provider is exiting."""
        failures = 0
        while True:
            try:
                await self._api.request(
                    "PATCH",
                    self._status_path(held.name),
                    body=ops,
                    content_type=JSON_PATCH,
                    request_timeout=FINAL_WRITE_TIMEOUT,
                )
            except ApiError as e:
                if e.conflict or e.status == 404:
                    log.warning("task %s: final write rejected (%s); result dropped", held.name, e)
                    return
                error: Exception = e
            except _TRANSIENT as e:
                error = e
            else:
                log.info("task %s: %s", held.name, _describe(held, ops))
                return
            failures += 1
            if self._abandon.is_set():
                log.warning("task %s: final write failed (%s); dropped at exit", held.name, error)
                return
            log.warning("task %s: final write failed (%s); retrying", held.name, error)
            await sleep_unless(self._abandon, RETRY_BACKOFF.delay(failures, self._rng))

    def _status_path(self, name: str) -> str:
        return TASKS.path(self._config.namespace, name, "status")


def outcome_of(ops: Patch) -> str:
    """succeeded, failed, cancelled or released: what the final write says happened."""
    history: object = next((op["value"] for op in ops if op.get("path") == "/status/history"), [])
    last = history[-1] if isinstance(history, list) and history else {}
    return str(last.get("outcome", "failed")).lower() if isinstance(last, dict) else "failed"


def _describe(held: Held, ops: Patch) -> str:
    phase = next((op["value"] for op in ops if op.get("path") == "/status/phase"), "?")
    return f"reported (epoch {held.fence.epoch}) -> {phase}"
