"""Claiming: pick a Pending candidate, compare-and-swap its lease to this provider.

Losses (409/422: someone else was faster) move on to another candidate at once and
back off with jitter when they keep coming; denials (401/403) are configuration
errors only a person fixes, reported once and retried slowly.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import aiohttp
from taskmill.provider.backoff import DENIED_BACKOFF, claim_delay, sleep_unless
from taskmill.provider.candidates import CandidateSet, Spread
from taskmill.provider.clock import Clock
from taskmill.provider.config import ProviderConfig
from taskmill.provider.keeper import Claimed, Keeper
from taskmill.provider.lease_clock import LeaseTiming, PresenceRenewals

from taskmill.api import protocol
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


class ClaimDeniedError(Exception):
    """The API server refused a claim (401/403): RBAC or admission policy."""


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
    ) -> None:
        self._api = api
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
        losses = denials = 0
        while not self.stopping.is_set():
            self._wake.clear()
            task = self._next_candidate()
            if task is None:
                await self._wake.wait()
                continue
            try:
                won = await self.claim(task)
            except ClaimDeniedError as e:
                denials += 1
                if denials == 1:
                    log.error("task %s: claim denied (%s); %s", task.metadata.name, e, DENIED_HINT)
                await self._pause(self.stopping, DENIED_BACKOFF.delay(denials, self._rng))
                continue
            denials = 0
            if won:
                self.won += 1
                self._spread.won()
                losses = 0
                continue
            self.lost += 1
            self._spread.lost()
            losses += 1
            delay = claim_delay(losses, self._rng)
            if delay:
                await self._pause(self.stopping, delay)

    def _next_candidate(self) -> Task | None:
        if self._held or self._keeper.load >= self._config.concurrency:
            return None
        return self._candidates.choose(self._rng, self._spread.k, self._full())

    def _full(self) -> frozenset[str]:
        """Capabilities at their own concurrency limit. Claims are made one at a time,
        so the held leases are all there is to count."""
        limits = self._config.capability_concurrency
        busy = self._keeper.busy_by_capability() if limits else {}
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
        sent = self._clock.mono()
        won = None
        try:
            path = TASKS.path(self._config.namespace, name, "status")
            obj = await self._api.json_patch(path, ops)
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
            won = Claimed(Task.model_validate(obj), timing, sent)
            return True
        finally:
            self._keeper.claimed(name, won)
