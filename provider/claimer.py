"""Claiming: pick a Pending candidate, compare-and-swap its lease to this provider.

Claims go one at a time (run-first runs, which claim with their result, may run
beside them). Losses (409/422: someone else was faster) move on to another candidate
at once and back off with jitter when they keep coming; denials (401/403) are
configuration errors only a person fixes, reported once and retried slowly.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from taskmill.provider.background import Background
from taskmill.provider.backoff import DENIED_BACKOFF, claim_delay, sleep_unless
from taskmill.provider.candidates import CandidateSet, Spread
from taskmill.provider.clock import Clock
from taskmill.provider.config import ProviderConfig
from taskmill.provider.keeper import Claimed, Keeper
from taskmill.provider.lease_clock import LeaseTiming, PresenceRenewals
from taskmill.provider.runfirst import RunFirst

from taskmill.api import protocol
from taskmill.api.common import ClaimMode
from taskmill.api.protocol import Patch
from taskmill.api.task import Task
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.paths import TASKS

log = logging.getLogger(__name__)

DENIED_HINT = (
    "check the provider's RBAC (patch on tasks/status) and the taskmill admission policy: "
    "the provider identity must equal the pod name in its service-account token "
    "(set POD_NAME from metadata.name via the Downward API)"
)

Pause = Callable[[asyncio.Event, float], Awaitable[None]]
# Told whether the claimer is hungry, and whether every slot is busy; answers in how
# many seconds to tell it again, if it wants to hear.
Hunger = Callable[[bool, bool], float | None]


class ClaimDeniedError(Exception):
    """The API server refused a claim (401/403): RBAC or admission policy."""


@dataclass(frozen=True)
class _Reserved:
    """A claim about to be sent: its slot is already counted, its candidate set aside."""

    task: Task
    ops: Patch
    timing: LeaseTiming


class Claimer:
    def __init__(
        self,
        api: KubeApi,
        config: ProviderConfig,
        keeper: Keeper,
        candidates: CandidateSet,
        clock: Clock,
        rng: random.Random,
        pause: Pause = sleep_unless,
        presence: PresenceRenewals | None = None,
        run_first: RunFirst | None = None,
        hunger: Hunger | None = None,
    ) -> None:
        self._api = api
        # Told after each choice whether a slot is free and no candidate may be taken
        # (taskmill.provider.stealing).
        self._hunger = hunger
        self._run_first = run_first  # runs tasks of spec.claim Optimistic before claiming
        # Leases are bound to this presence Lease when given (and the task allows it).
        self._presence = presence
        self._config = config
        self._keeper = keeper
        self._candidates = candidates
        self._clock = clock
        self._rng = rng
        self._pause = pause
        self._spread = Spread(config.top_k)
        self._wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self._held = False  # draining for a scale-down: no new claims
        self._in_flight: dict[str, str] = {}  # task name -> capability
        self._claims = Background()
        self._losses = self._denials = 0
        self._backoff = 0.0  # seconds to pause before the next claim
        self.won = 0
        self.lost = 0

    def wake(self) -> None:
        self._wake.set()

    def hold(self, held: bool) -> None:
        """Stop claiming (the provider is draining), or resume."""
        if self._held and not held:
            self._wake.set()
        self._held = held

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Claim while slots are free; return once stopped and every claim is answered."""
        try:
            while not self.stopping.is_set():
                self._wake.clear()
                if self._backoff:
                    delay, self._backoff = self._backoff, 0.0
                    await self._pause(self.stopping, delay)
                    continue
                task = self._next_candidate()
                again = self._tell_hunger(task is None)
                if task is None:
                    await self._idle(again)
                    continue
                run_first = self._run_first
                if task.spec.claim == ClaimMode.OPTIMISTIC and run_first and run_first.usable:
                    self._candidates.discard(task.metadata.name)
                    run_first.start(task)  # claimed with its result, or never
                    continue
                self._claims.spawn(self._claim_and_judge(self._reserve(task)))
        finally:
            await self._claims.settle()

    async def _idle(self, again: float | None) -> None:
        """Wait for news (an event, a freed slot), until a candidate nominated to another
        provider may be taken here (taskmill.provider.nominees), or for `again` seconds."""
        ripe_in = self._candidates.ripe_in()
        waits = [w for w in (ripe_in, again) if w is not None]
        if not waits:
            await self._wake.wait()
        else:
            await self._pause(self._wake, min(waits))

    async def _claim_and_judge(self, reserved: _Reserved) -> None:
        """One claim sent beside others; its answer steers the spread and the backoff."""
        try:
            won = await self._send(reserved)
        except ClaimDeniedError as e:
            self._denials += 1
            if self._denials == 1:
                name = reserved.task.metadata.name
                log.error("task %s: claim denied (%s); %s", name, e, DENIED_HINT)
            self._delay(DENIED_BACKOFF.delay(self._denials, self._rng))
            return
        finally:
            self._wake.set()  # its slot is free again, or taken by work
        self._denials = 0
        if won:
            self._spread.won()
            self.won += 1
            self._losses = 0
            return
        self._spread.lost()
        self.lost += 1
        self._losses += 1
        self._delay(claim_delay(self._losses, self._rng))

    def _delay(self, seconds: float) -> None:
        self._backoff = max(self._backoff, seconds)

    def _tell_hunger(self, nothing_chosen: bool) -> float | None:
        """Tell `hunger` whether a slot is free and no claim is in flight, yet nothing
        was chosen; and whether every slot is busy."""
        if self._hunger is None:
            return None
        free = self._slot_free()
        hungry = nothing_chosen and free and not self._held and not self._in_flight
        return self._hunger(hungry, not free)

    def _slot_free(self) -> bool:
        return self._keeper.load < self._config.concurrency

    def _next_candidate(self) -> Task | None:
        if self._held or not self._slot_free():
            return None
        if self._in_flight:
            # One claim at a time: claims sent together raced each other's, and every
            # other provider's, for the same top candidates (the throughput bench lost
            # 0.47-0.94 claims per task so, against 0.3 one at a time).
            return None
        return self._candidates.choose(self._rng, self._spread.k, self._full())

    def _full(self) -> frozenset[str]:
        """Capabilities at their own concurrency limit: running work, claims in flight
        and run-first runs."""
        limits = self._config.capability_concurrency
        if not limits:
            return frozenset()
        busy = self._keeper.busy_by_capability()
        for capability in self._in_flight.values():
            busy[capability] = busy.get(capability, 0) + 1
        if self._run_first is not None:
            for capability, running in self._run_first.busy_by_capability().items():
                busy[capability] = busy.get(capability, 0) + running
        return frozenset(c for c, limit in limits.items() if busy.get(c, 0) >= limit)

    def _binding(self, duration: int) -> str:
        """The presence instance to bind a lease of `duration` to, or "". Only when the
        presence Lease lasts no longer than the task allows its lease to: a provider
        whose presence outlasts what a task allows renews that task's lease itself."""
        if self._presence is None or duration < self._config.lease_seconds:
            return ""
        return self._presence.instance

    async def claim(self, task: Task) -> bool:
        """Compare-and-swap the task's lease to this provider; start the work if it won.

        Raises ClaimDeniedError on 401/403, which retrying at once cannot cure.
        """
        return await self._send(self._reserve(task))

    def _reserve(self, task: Task) -> _Reserved:
        """Count the claim's slot and set its candidate aside before anything is awaited,
        so the next candidate is chosen knowing of it."""
        name = task.metadata.name
        duration = min(self._config.lease_seconds, task.spec.lease_duration_seconds)
        timing = LeaseTiming.of(duration, self._config.kill_grace_seconds)
        ops = protocol.claim(
            task,
            self._config.identity,
            list(self._config.capabilities),
            self._clock.wall(),
            duration_seconds=duration,
            renew_interval_seconds=timing.interval,
            presence_instance=self._binding(duration),
        )
        self._candidates.discard(name)
        self._keeper.claiming(name)
        self._in_flight[name] = task.spec.capability
        return _Reserved(task, ops, timing)

    async def _send(self, reserved: _Reserved) -> bool:
        task = reserved.task
        name = task.metadata.name
        sent = self._clock.mono()
        won = None
        try:
            path = TASKS.path(self._config.namespace, name, "status")
            obj = await self._api.json_patch(path, reserved.ops)
        except ApiError as e:
            if e.status in (401, 403):
                self._candidates.restore(task)
                raise ClaimDeniedError(str(e)) from e
            if not (e.conflict or e.status == 404):
                log.warning("task %s: claim failed: %s", name, e)
                self._candidates.restore(task)
            return False
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("task %s: claim failed: %s", name, e)
            self._candidates.restore(task)
            return False
        else:
            won = Claimed(Task.model_validate(obj), reserved.timing, sent)
            return True
        finally:
            self._in_flight.pop(name, None)
            self._keeper.claimed(name, won)
