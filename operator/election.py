"""Leader election on a coordination.k8s.io Lease, so two replicas never both act.

Like client-go's leader election: the standby reads the Lease and stamps, on its own
monotonic clock, when the (holder, renewTime) record last changed; it takes over only
when that stamp is older than leaseDurationSeconds. Every write carries the
resourceVersion it read, so two candidates cannot both win. A leader that cannot renew
within its renew deadline gives up (the process exits; its Deployment restarts it).
"""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from taskmill.operator.observer import ObserverClock, stale_at

from taskmill.api.protocol import timestamp
from taskmill.kube import ApiError, Kube
from taskmill.kube.paths import LEASES

log = logging.getLogger(__name__)

LEASE_NAME = "taskmill-operator"


def may_take(holder: str, me: str, seen_at: float, duration_seconds: float, now: float) -> bool:
    """Whether `me` may write the Lease: it is mine, free, or its holder went silent."""
    return holder in ("", me) or now >= stale_at(seen_at, duration_seconds, 0)


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        identity: str,
        *,
        duration_seconds: int = 15,
        retry_seconds: float = 2.0,
        name: str = LEASE_NAME,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._path = LEASES.path(namespace, name)
        self._collection = LEASES.path(namespace)
        self._name = name
        self._me = identity
        self._duration = duration_seconds
        self._retry = retry_seconds
        self._mono = monotonic
        self._clock: ObserverClock[str] = ObserverClock()
        self._renewed_at = -float("inf")

    async def acquire(self) -> None:
        """Wait until this replica leads; a standby makes only this one GET per retry."""
        while True:
            if await self._try():
                break
            await asyncio.sleep(self._retry)
        log.info("became leader", extra={"identity": self._me, "lease": self._name})

    async def hold(self) -> None:
        """Renew until leadership is lost; returns when it is (the caller must stop)."""
        # Give up with a margin before the standby may take over, as client-go's
        # RenewDeadline < LeaseDuration does.
        deadline = self._duration * 2 / 3
        while True:
            await asyncio.sleep(self._retry)
            if await self._try():
                continue
            if self._mono() - self._renewed_at > deadline:
                log.error("lost leadership", extra={"identity": self._me, "lease": self._name})
                return

    async def release(self) -> None:
        """On graceful exit: free the Lease so the standby takes over at once."""
        try:
            lease = await self._kube.get(self._path)
            if (lease.get("spec") or {}).get("holderIdentity") != self._me:
                return
            version = lease["metadata"]["resourceVersion"]
            body = {"metadata": {"resourceVersion": version}, "spec": {"holderIdentity": ""}}
            await self._kube.merge_patch(self._path, body)
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("could not release leadership", extra={"error": str(e)})

    async def _try(self) -> bool:
        try:
            return await self._try_once()
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("leader election request failed", extra={"error": str(e)})
            return False

    async def _try_once(self) -> bool:
        now = self._mono()
        try:
            lease = await self._kube.get(self._path)
        except ApiError as e:
            if e.status != 404:
                raise
            return await self._write(self._kube.create(self._collection, self._body({})))
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        self._clock.observe("leader", (holder, spec.get("renewTime")), now)
        seen = self._clock.seen_at("leader")
        assert seen is not None
        duration = spec.get("leaseDurationSeconds") or self._duration
        if not may_take(holder, self._me, seen, duration, now):
            return False
        return await self._write(self._kube.merge_patch(self._path, self._body(lease)))

    async def _write(self, request: Any) -> bool:
        try:
            await request
        except ApiError as e:
            if e.status == 409:
                return False
            raise
        self._renewed_at = self._mono()
        return True

    def _body(self, lease: dict[str, Any]) -> dict[str, Any]:
        spec = lease.get("spec") or {}
        wall = timestamp(datetime.now(UTC))
        taking = spec.get("holderIdentity") != self._me
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._name},
            "spec": {
                "holderIdentity": self._me,
                "leaseDurationSeconds": self._duration,
                "renewTime": wall,
            },
        }
        if "metadata" in lease:
            body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
        if taking:
            body["spec"]["acquireTime"] = wall
            body["spec"]["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
                1 if spec else 0
            )
        return body
