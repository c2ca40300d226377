"""One loop renews every held lease when due and stops work past its own deadline.

Leases bound to the presence Lease are renewed by it (taskmill.provider.presence); for
them the loop only reports progress and enforces the deadline.

What a lease needs at a given moment is a pure decision (`beat`); the loop only
applies it, so the decision is tested with an injected clock and no event loop.
"""

import asyncio
import logging
from collections.abc import Mapping
from enum import StrEnum

import aiohttp
from taskmill.provider.background import Background
from taskmill.provider.clock import Clock
from taskmill.provider.held import Held, Renewal, StopReason
from taskmill.provider.metrics import ProviderMetrics

from taskmill.api import protocol
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.client import JSON_PATCH
from taskmill.kube.paths import TASKS

log = logging.getLogger(__name__)

HEARTBEAT_TICK = 0.5
MIN_REQUEST_TIMEOUT = 0.5


class Beat(StrEnum):
    WAIT = "Wait"
    RENEW = "Renew"
    STOP = "Stop"  # the holder's own deadline passed: stop the work


def beat(held: Held, now: float) -> Beat:
    """What the lease needs at `now`. The holder's own deadline is checked even while a
    renewal is in flight: a renewal that hangs must not let the work run on."""
    reason = held.stop_reason
    if held.finishing or (reason is not None and not reason.renews):
        return Beat.WAIT  # the final write is under way, or the lease is given up
    if held.clock.expired(now):
        return Beat.STOP
    if held.renewal is Renewal.IDLE and held.clock.renewal_due(now, held.ctx.has_progress):
        return Beat.RENEW
    return Beat.WAIT


class Heartbeat:
    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        leases: Mapping[str, Held],
        chores: Background,
        clock: Clock,
        *,
        metrics: ProviderMetrics | None = None,
    ) -> None:
        self._api = api
        self._metrics = metrics
        self._namespace = namespace
        self._leases = leases
        self._chores = chores
        self._clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            if not self._leases:
                self._wake.clear()
                await self._wake.wait()
                continue
            await asyncio.sleep(HEARTBEAT_TICK)
            self.tick()

    def tick(self) -> None:
        """Apply what each held lease needs now."""
        now = self._clock.mono()
        for held in list(self._leases.values()):
            match beat(held, now):
                case Beat.STOP:
                    log.warning("task %s: could not renew in time; stopping the work", held.name)
                    held.stop(StopReason.DEADLINE_MISSED)
                case Beat.RENEW:
                    held.begin_renewal()
                    self._chores.spawn(self.renew(held))
                case Beat.WAIT:
                    pass

    async def renew(self, held: Held) -> None:
        progress = held.ctx.take_progress()
        percent, message = progress or (None, "")
        ops = protocol.renew(held.fence, self._clock.wall(), percent, message)
        sent = self._clock.mono()
        accepted: float | None = None
        result = "error"
        try:
            await self._api.request(
                "PATCH",
                TASKS.path(self._namespace, held.name, "status"),
                body=ops,
                content_type=JSON_PATCH,
                # An answer after the holder's own deadline is no use to it.
                request_timeout=max(MIN_REQUEST_TIMEOUT, held.clock.deadline - sent),
            )
            accepted, result = sent, "ok"
        except ApiError as e:
            if e.conflict or e.status == 404:
                log.warning("task %s: renewal rejected (%s); abandoning the work", held.name, e)
                held.stop(StopReason.LEASE_LOST)
                result = "lost"
            else:
                _renewal_failed(held, progress, e)
        except (aiohttp.ClientError, TimeoutError) as e:
            _renewal_failed(held, progress, e)
        finally:
            held.end_renewal(accepted)
            if self._metrics is not None:
                self._metrics.renewals.labels(result).inc()
                self._metrics.renewal_latency.observe(self._clock.mono() - sent)


def _renewal_failed(held: Held, progress: tuple[int | None, str] | None, error: Exception) -> None:
    log.warning("task %s: renewal failed (%s); will retry", held.name, error)
    if progress is not None:
        held.ctx.keep_progress(progress)
