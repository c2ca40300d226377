"""The provider agent: presence, watches, claiming, heartbeats, results, shutdown.

Everything is driven by watch events and one heartbeat loop; an idle provider sends
nothing but its open watches and its presence renewals. Work is run by an Executor
(a command per task, or SDK handlers); the agent decides every write around it.
"""

import asyncio
import contextlib
import logging
import random
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
from taskmill.provider.backoff import DENIED_BACKOFF, RETRY_BACKOFF, claim_delay
from taskmill.provider.candidates import CandidateSet, Spread
from taskmill.provider.config import ProviderConfig
from taskmill.provider.context import Context
from taskmill.provider.held import Held, StopReason
from taskmill.provider.lease_clock import LeaseClock, renew_interval
from taskmill.provider.presence import Presence
from taskmill.provider.results import Outcome, error_outcome
from taskmill.provider.watch import Selector, list_watch

from taskmill.api import protocol
from taskmill.api.meta import LABEL_CAPABILITY
from taskmill.api.protocol import Fence, Patch
from taskmill.api.task import Task
from taskmill.kube import ApiError, Kube
from taskmill.kube.client import JSON_PATCH
from taskmill.kube.paths import TASKS

log = logging.getLogger(__name__)

HEARTBEAT_TICK = 0.5
REMEMBERED_ENDS = 1024
RELEASED_ON_SHUTDOWN = "ProviderShutdown"
RELEASED_ORPHAN = "ProviderRestarted"
DENIED_HINT = (
    "check the provider's RBAC (patch on tasks/status) and the taskmill admission policy: "
    "the provider identity must equal the pod name in its service-account token "
    "(set POD_NAME from metadata.name via the Downward API)"
)

_TRANSIENT = (aiohttp.ClientError, TimeoutError)


class Executor(Protocol):
    """Runs one task's work. Must return soon after ctx.cancelled is set."""

    async def execute(self, task: Task, ctx: Context) -> Outcome: ...


def pending_selector(config: ProviderConfig) -> Selector:
    """Leasable tasks of the served capabilities: the only tasks that wake a provider."""
    return Selector(
        TASKS.path(config.namespace),
        label_selector=f"{LABEL_CAPABILITY} in ({','.join(config.capabilities)})",
        field_selector="status.phase=Pending",
    )


def held_selector(config: ProviderConfig) -> Selector:
    """Tasks leased to this provider, so spec.cancel and deletion are seen at once."""
    return Selector(
        TASKS.path(config.namespace), field_selector=f"status.lease.holder={config.identity}"
    )


class Agent:
    def __init__(
        self,
        kube: Kube,
        config: ProviderConfig,
        executor: Executor,
        *,
        rng: random.Random | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        pause: Callable[[asyncio.Event, float], Awaitable[None]] | None = None,
    ) -> None:
        self._kube = kube
        self._config = config
        self._executor = executor
        self._rng = rng or random.Random()
        self._wall = wall
        self._mono = monotonic
        self._pause = pause or _sleep_unless
        self._candidates = CandidateSet(config.capabilities)
        self._spread = Spread(config.top_k)
        self._held: dict[str, Held] = {}
        self._claiming: set[str] = set()
        # Held-watch events that arrived while a claim of that task was in flight.
        self._stashed: dict[str, tuple[str, dict[str, Any]]] = {}
        # (name, epoch) of leases this process ended: late events about them are not orphans.
        self._ended: deque[tuple[str, int]] = deque(maxlen=REMEMBERED_ENDS)
        self._wake_claimer = asyncio.Event()
        self._wake_heartbeat = asyncio.Event()
        self._stopping = asyncio.Event()
        self._works: set[asyncio.Task[None]] = set()
        self._chores: set[asyncio.Task[None]] = set()
        self._claims_won = 0
        self._claims_lost = 0

    # --- lifecycle -------------------------------------------------------------

    async def run(self, shutdown: asyncio.Event) -> None:
        """Serve until `shutdown` is set, then hand back what is still running."""
        presence = Presence(self._kube, self._config, self._wall)
        await presence.announce()
        log.info(
            "provider %s serving %s in %s (concurrency %d)",
            self._config.identity,
            ",".join(self._config.capabilities),
            self._config.namespace,
            self._config.concurrency,
        )
        background = [
            asyncio.create_task(presence.keep(), name="presence"),
            asyncio.create_task(self._watch_held(), name="held-watch"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
        ]
        pending_watch = asyncio.create_task(self._watch_pending(), name="pending-watch")
        claimer = asyncio.create_task(self._claim_loop(), name="claimer")
        stop = asyncio.create_task(shutdown.wait())
        try:
            done, _ = await asyncio.wait(
                {stop, claimer, pending_watch, *background}, return_when=asyncio.FIRST_COMPLETED
            )
            crashed = [t for t in done if t is not stop]
            for task in crashed:
                log.error("%s stopped unexpectedly; shutting down", task.get_name())
            log.info("shutting down: no new claims")
            self._stopping.set()
            self._wake_claimer.set()
            await asyncio.wait({claimer})
            pending_watch.cancel()
            await self._drain()
        finally:
            # The claimer is done by now unless this run itself was cancelled.
            for task in [stop, claimer, pending_watch, *background]:
                task.cancel()
            await asyncio.gather(stop, claimer, pending_watch, *background, return_exceptions=True)
            await presence.retract()
            log.info("claims won %d, lost %d", self._claims_won, self._claims_lost)
        for task in crashed:
            task.result()  # re-raise what stopped the provider

    async def _drain(self) -> None:
        """Let running work finish within the grace period; release the rest to Pending."""
        if self._works:
            log.info(
                "waiting up to %.0fs for %d task(s)", self._config.grace_seconds, len(self._works)
            )
            await asyncio.wait(set(self._works), timeout=self._config.grace_seconds)
        for held in list(self._held.values()):
            held.stop(StopReason.SHUTDOWN)
        await asyncio.gather(*self._works, *self._chores, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None], into: set[asyncio.Task[None]]) -> None:
        task = asyncio.create_task(coro)
        into.add(task)
        task.add_done_callback(into.discard)

    # --- watches ---------------------------------------------------------------

    async def _watch_pending(self) -> None:
        await list_watch(
            self._kube,
            pending_selector(self._config),
            self._candidates,
            on_change=self._wake_claimer.set,
            rng=self._rng,
        )

    async def _watch_held(self) -> None:
        await list_watch(
            self._kube,
            held_selector(self._config),
            _HeldEvents(self),
            on_change=_nothing,
            rng=self._rng,
        )

    def on_held_event(self, event_type: str, obj: dict[str, Any]) -> None:
        """An event about a task leased to this identity (or that just stopped being)."""
        name = obj.get("metadata", {}).get("name", "")
        if name in self._claiming:
            self._stashed[name] = (event_type, obj)
            return
        task = Task.model_validate(obj)
        held = self._held.get(name)
        if held is None:
            self._maybe_release_orphan(event_type, task)
            return
        epoch = task.status.lease.epoch
        if epoch < held.fence.epoch:
            return  # an event from before this lease, delivered late
        if event_type == "DELETED":
            # Deleted, or it left the holder selector: the event carries the last state
            # that matched, so the two look alike. Either way the lease is gone.
            log.warning("task %s: deleted or leased away; abandoning the work", name)
            held.stop(StopReason.GONE)
        elif not held.is_current(task):
            log.warning("task %s: lease moved on (epoch %d); abandoning the work", name, epoch)
            held.stop(StopReason.LEASE_LOST)
        else:
            held.task = task
            if task.spec.cancel and held.stop_reason is None:
                log.info("task %s: cancel requested (%s)", name, task.spec.cancel_reason)
                held.stop(StopReason.CANCELLED)

    def _maybe_release_orphan(self, event_type: str, task: Task) -> None:
        """A task held under this identity that this process does not know: a claim whose
        answer was lost, or an earlier run under the same pod name. Give it back at once
        instead of leaving it to expire."""
        lease = task.status.lease
        key = (task.metadata.name, lease.epoch)
        if event_type == "DELETED" or lease.holder != self._config.identity or key in self._ended:
            return
        self._ended.append(key)
        log.info("task %s: held under this identity but unknown here; releasing", key[0])
        fence = Fence(lease.holder, lease.epoch)
        ops = protocol.release(
            task, fence, self._wall(), outcome="Released", reason=RELEASED_ORPHAN, hold=False
        )
        self._spawn(self._write_once(task.metadata.name, ops), self._chores)

    async def _write_once(self, name: str, ops: Patch) -> None:
        try:
            await self._kube.json_patch(TASKS.path(self._config.namespace, name, "status"), ops)
        except (ApiError, *_TRANSIENT) as e:
            log.warning("task %s: release failed: %s", name, e)

    # --- claiming --------------------------------------------------------------

    async def _claim_loop(self) -> None:
        losses = denials = 0
        while not self._stopping.is_set():
            self._wake_claimer.clear()
            task = self._next_candidate()
            if task is None:
                await self._wake_claimer.wait()
                continue
            try:
                won = await self._claim(task)
            except ClaimDeniedError as e:
                denials += 1
                if denials == 1:
                    log.error("task %s: claim denied (%s); %s", task.metadata.name, e, DENIED_HINT)
                await self._pause(self._stopping, DENIED_BACKOFF.delay(denials, self._rng))
                continue
            denials = 0
            if won:
                self._claims_won += 1
                self._spread.won()
                losses = 0
                continue
            self._claims_lost += 1
            self._spread.lost()
            losses += 1
            delay = claim_delay(losses, self._rng)
            if delay:
                await self._pause(self._stopping, delay)

    def _next_candidate(self) -> Task | None:
        if len(self._held) + len(self._claiming) >= self._config.concurrency:
            return None
        return self._candidates.choose(self._rng, self._spread.k)

    async def _claim(self, task: Task) -> bool:
        """Compare-and-swap the task's lease to this provider; start the work if it won.

        Raises ClaimDeniedError on 401/403, which retrying at once cannot cure.
        """
        name = task.metadata.name
        duration = min(self._config.lease_seconds, task.spec.lease_duration_seconds)
        interval = renew_interval(duration)
        ops = protocol.claim(
            task,
            self._config.identity,
            list(self._config.capabilities),
            self._wall(),
            duration_seconds=duration,
            renew_interval_seconds=interval,
        )
        self._candidates.discard(name)
        self._claiming.add(name)
        sent = self._mono()
        try:
            obj = await self._kube.json_patch(self._status_path(name), ops)
        except ApiError as e:
            if e.status in (401, 403):
                self._candidates.restore(task)
                raise ClaimDeniedError(str(e)) from e
            if not (e.conflict or e.status == 404):
                log.warning("task %s: claim failed: %s", name, e)
                self._candidates.restore(task)
            return False
        except _TRANSIENT as e:
            log.warning("task %s: claim failed: %s", name, e)
            self._candidates.restore(task)
            return False
        else:
            self._start(Task.model_validate(obj), duration, interval, sent)
            return True
        finally:
            self._claiming.discard(name)
            stashed = self._stashed.pop(name, None)
            if stashed:
                self.on_held_event(*stashed)

    def _start(self, task: Task, duration: int, interval: int, sent: float) -> None:
        lease = task.status.lease
        held = Held(
            task=task,
            fence=Fence(lease.holder, lease.epoch),
            clock=LeaseClock.start(lease.duration_seconds or duration, interval, sent),
            ctx=Context(task),
        )
        self._held[held.name] = held
        log.info(
            "task %s: claimed (epoch %d, priority %d)", held.name, lease.epoch, task.spec.priority
        )
        self._spawn(self._work(held), self._works)
        self._wake_heartbeat.set()
        if task.spec.cancel:
            held.stop(StopReason.CANCELLED)

    # --- work and its final write ----------------------------------------------

    async def _work(self, held: Held) -> None:
        try:
            try:
                outcome = await self._executor.execute(held.task, held.ctx)
            except Exception as e:
                log.exception("task %s: executor failed", held.name)
                outcome = error_outcome(e, traceback.format_exc())
            await self._finish(held, outcome)
        finally:
            self._held.pop(held.name, None)
            self._ended.append((held.name, held.fence.epoch))
            self._wake_claimer.set()

    async def _finish(self, held: Held, outcome: Outcome) -> None:
        held.finishing = True
        reason = held.stop_reason
        if reason is None and held.clock.expired(self._mono()):
            reason = StopReason.DEADLINE_MISSED
        if reason is not None and not reason.may_write:
            log.warning("task %s: abandoned (%s); no result written", held.name, reason)
            return
        ops = self._final_patch(held, outcome, reason)
        await self._write_final(held, ops)

    def _final_patch(self, held: Held, outcome: Outcome, reason: StopReason | None) -> Patch:
        task, fence, now = held.task, held.fence, self._wall()
        if reason == StopReason.CANCELLED:
            why = task.spec.cancel_reason or "Cancelled"
            return protocol.release(task, fence, now, outcome="Cancelled", reason=why, hold=True)
        if reason == StopReason.SHUTDOWN:
            return protocol.release(
                task, fence, now, outcome="Released", reason=RELEASED_ON_SHUTDOWN, hold=False
            )
        if outcome.succeeded:
            return protocol.succeed(task, fence, now, outcome.result)
        return protocol.fail_attempt(
            task, fence, now, outcome="Failed", reason=outcome.reason, result=outcome.result
        )

    async def _write_final(self, held: Held, ops: Patch) -> None:
        """The last write of a lease; retried on transient errors while the lease is ours."""
        failures = 0
        while True:
            try:
                await self._kube.json_patch(self._status_path(held.name), ops)
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
            if held.clock.expired(self._mono()):
                log.warning("task %s: lease deadline passed during final write; dropped", held.name)
                return
            log.warning("task %s: final write failed (%s); retrying", held.name, error)
            await asyncio.sleep(RETRY_BACKOFF.delay(failures, self._rng))

    # --- heartbeat -------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """One loop renews every held lease when due and stops work past its own deadline."""
        while True:
            if not self._held:
                self._wake_heartbeat.clear()
                await self._wake_heartbeat.wait()
                continue
            await asyncio.sleep(HEARTBEAT_TICK)
            now = self._mono()
            for held in list(self._held.values()):
                if held.finishing or held.renewing:
                    continue
                if held.clock.expired(now):
                    log.warning("task %s: could not renew in time; stopping the work", held.name)
                    held.stop(StopReason.DEADLINE_MISSED)
                elif held.clock.renewal_due(now):
                    held.renewing = True
                    self._spawn(self._renew(held), self._chores)

    async def _renew(self, held: Held) -> None:
        progress = held.ctx.take_progress()
        percent, message = progress or (None, "")
        ops = protocol.renew(held.fence, self._wall(), percent, message)
        sent = self._mono()
        try:
            await self._kube.request(
                "PATCH",
                self._status_path(held.name),
                body=ops,
                content_type=JSON_PATCH,
                request_timeout=held.clock.duration,
            )
            held.clock.renewed(sent)
        except ApiError as e:
            if e.conflict or e.status == 404:
                log.warning("task %s: renewal rejected (%s); abandoning the work", held.name, e)
                held.stop(StopReason.LEASE_LOST)
            else:
                self._renewal_failed(held, progress, e)
        except _TRANSIENT as e:
            self._renewal_failed(held, progress, e)
        finally:
            held.renewing = False

    def _renewal_failed(
        self, held: Held, progress: tuple[int | None, str] | None, error: Exception
    ) -> None:
        log.warning("task %s: renewal failed (%s); will retry", held.name, error)
        if progress is not None:
            held.ctx.keep_progress(progress)

    def _status_path(self, name: str) -> str:
        return TASKS.path(self._config.namespace, name, "status")


class ClaimDeniedError(Exception):
    """The API server refused a claim (401/403): RBAC or admission policy."""


class _HeldEvents:
    """Adapts the held-task watch to the agent (a relist is applied as ADDED events)."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    def replace(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            self._agent.on_held_event("ADDED", obj)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        self._agent.on_held_event(event_type, obj)


def _nothing() -> None:
    pass


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _describe(held: Held, ops: Patch) -> str:
    phase = next((op["value"] for op in ops if op.get("path") == "/status/phase"), "?")
    return f"reported (epoch {held.fence.epoch}) -> {phase}"
