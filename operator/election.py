"""Leader election on a coordination.k8s.io Lease, so two replicas never both act.

Like client-go's leader election: the standby reads the Lease and stamps, on its own
monotonic clock, when the (holder, renewTime) record last changed; it takes over only
when that stamp is older than leaseDurationSeconds. Every write carries the
resourceVersion it read, so two candidates cannot both win.

The leader steps down (the process exits; its Deployment restarts it) as soon as it
sees another holder, or when a renewal has not succeeded within the renew deadline,
two thirds of the duration: each renewal attempt is cut off at that deadline, so a
hung request cannot keep a deposed leader acting while a standby takes over.
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import aiohttp
from taskmill.operator.observer import ObserverClock, stale_at

from taskmill.api.protocol import timestamp
from taskmill.kube import ApiError
from taskmill.kube.api import Requests
from taskmill.kube.paths import LEASES

log = logging.getLogger(__name__)

LEASE_NAME = "taskmill-operator"
RENEW_DEADLINE_FRACTION = 2 / 3


def default_identity(environ: dict[str, str] | None = None) -> str:
    """Pod (or host) name plus a random suffix, unique per process as client-go's is:
    two processes on one host must never both believe the Lease is theirs."""
    env = os.environ if environ is None else environ
    return f"{env.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:12]}"


class Outcome(Enum):
    HELD = "held"  # written: ours now
    WAIT = "wait"  # another holder, still live, or a lost race
    LOST = "lost"  # another holder while we led: step down now


def may_take(holder: str, me: str, seen_at: float, duration_seconds: float, now: float) -> bool:
    """Whether `me` may write the Lease: it is mine, free, or its holder went silent."""
    return holder in ("", me) or now >= stale_at(seen_at, duration_seconds, 0)


class LeaderElector:
    def __init__(
        self,
        kube: Requests,
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
        self._held_before = False
        self.leading = False

    @property
    def renew_deadline(self) -> float:
        """Seconds after the last renewal at which the leader gives up: well before a
        standby, which waits the full duration, may take over."""
        return self._duration * RENEW_DEADLINE_FRACTION

    async def acquire(self) -> None:
        """Wait until this replica leads; a standby makes only this one GET per retry."""
        while True:
            if await self._try(self._retry) is Outcome.HELD:
                break
            await asyncio.sleep(self._retry)
        self.leading = self._held_before = True
        log.info("became leader", extra={"identity": self._me, "lease": self._name})

    async def hold(self) -> None:
        """Renew until leadership is lost; returns when it is (the caller must stop)."""
        try:
            while True:
                await asyncio.sleep(self._retry)
                left = self._renewed_at + self.renew_deadline - self._mono()
                outcome = await self._try(left) if left > 0 else Outcome.WAIT
                if outcome is Outcome.LOST:
                    log.error("another replica holds the lease", extra={"identity": self._me})
                    return
                if self._mono() - self._renewed_at >= self.renew_deadline:
                    log.error(
                        "could not renew within the renew deadline; stepping down",
                        extra={"identity": self._me, "lease": self._name},
                    )
                    return
        finally:
            self.leading = False

    async def release(self) -> None:
        """On graceful exit: free the Lease so the standby takes over at once."""
        try:
            lease = await self._kube.request("GET", self._path, request_timeout=self._retry)
            if (lease.get("spec") or {}).get("holderIdentity") != self._me:
                return
            version = lease["metadata"]["resourceVersion"]
            body = {"metadata": {"resourceVersion": version}, "spec": {"holderIdentity": ""}}
            await self._send("PATCH", self._path, body, self._retry)
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("could not release leadership", extra={"error": str(e)})

    async def _try(self, budget: float) -> Outcome:
        """One read and, if allowed, one write, cut off after `budget` seconds."""
        try:
            async with asyncio.timeout(budget):
                return await self._try_once(budget)
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("leader election request failed", extra={"error": str(e) or "timeout"})
            return Outcome.WAIT

    async def _try_once(self, budget: float) -> Outcome:
        # The renewal counts from before it was sent: never later than the API server
        # applied it, so the renew deadline never outlasts what a standby sees.
        now = self._mono()
        try:
            lease = await self._kube.request("GET", self._path, request_timeout=budget)
        except ApiError as e:
            if e.status != 404:
                raise
            return await self._write("POST", self._collection, self._body({}), budget, now)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if self.leading and holder not in ("", self._me):
            return Outcome.LOST
        # A Lease naming us that this process never held is another process's with our
        # identity (or our previous life's): wait for it like any other holder's.
        mine = self._me if self._held_before else ""
        self._clock.observe("leader", (holder, spec.get("renewTime")), now)
        seen = self._clock.seen_at("leader")
        assert seen is not None
        duration = spec.get("leaseDurationSeconds") or self._duration
        if not may_take(holder, mine, seen, duration, now):
            return Outcome.WAIT
        return await self._write("PATCH", self._path, self._body(lease), budget, now)

    async def _write(
        self, method: str, path: str, body: dict[str, Any], budget: float, started: float
    ) -> Outcome:
        try:
            await self._send(method, path, body, budget)
        except ApiError as e:
            if e.status == 409:
                return Outcome.WAIT
            raise
        self._renewed_at = started
        return Outcome.HELD

    async def _send(self, method: str, path: str, body: dict[str, Any], budget: float) -> None:
        content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
        await self._kube.request(
            method, path, body=body, content_type=content_type, request_timeout=budget
        )

    def _body(self, lease: dict[str, Any]) -> dict[str, Any]:
        spec = lease.get("spec") or {}
        wall = timestamp(datetime.now(UTC))
        taking = not self.leading or spec.get("holderIdentity") != self._me
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
