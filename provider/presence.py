"""The provider's presence Lease: who it is, what it serves, how much it can take.

Format fixed with the operator: coordination.k8s.io/v1 Lease
`taskmill-provider-<identity>`, labelled `taskmill.io/provider=true` and
`capability.taskmill.io/<name>=true` per capability, annotated with the capability
list, concurrency, instance id and renewal interval, renewed at that interval (the
one a task lease of the same duration would have: two renewals fit before the
holder's own deadline), deleted on graceful exit.

The renewals also keep every task lease bound to this instance alive
(status.lease.presenceInstance): their times go into `renewals`, from which those
leases' deadlines run (taskmill.provider.lease_clock).

The Lease also makes the identity exclusive. It carries this process's instance id;
a provider that finds the Lease held by another instance watches it for a lease
duration and refuses to start if it is renewed meanwhile (another live process has
this identity), or takes it over if not (an earlier run that died). Renewals test
the instance id and the deletion on exit is conditional on the Lease's uid, so no
process renews or deletes another's Lease.
"""

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from taskmill.provider.config import ProviderConfig
from taskmill.provider.lease_clock import LeaseTiming, PresenceRenewals

from taskmill.api.meta import (
    ANNOTATION_BUSY,
    ANNOTATION_CONCURRENCY,
    ANNOTATION_DRAIN,
    ANNOTATION_DRAINED,
    ANNOTATION_INSTANCE,
    ANNOTATION_RENEW_INTERVAL,
    CAPABILITY_LABEL_PREFIX,
    LABEL_PROVIDER,
    PROVIDER_LEASE_PREFIX,
)
from taskmill.api.protocol import timestamp
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.client import JSON_PATCH
from taskmill.kube.paths import LEASES

log = logging.getLogger(__name__)

ANNOTATION_CAPABILITIES = "taskmill.io/capabilities"
# Observations of another instance's Lease per lease duration.
CHECKS_PER_DURATION = 5
# After a failed renewal, the next try comes this soon (or at the interval, if sooner).
RETRY_SECONDS = 1.0
MIN_REQUEST_TIMEOUT = 0.5

Sleep = Callable[[float], Awaitable[None]]


class IdentityInUseError(RuntimeError):
    """Another live process serves under this provider identity."""


def new_instance_id() -> str:
    """Unique per process, even for two processes on one host."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def lease_name(identity: str) -> str:
    return f"{PROVIDER_LEASE_PREFIX}{identity}"


def presence_timing(config: ProviderConfig) -> LeaseTiming:
    """The presence Lease's duration, renewal interval and margin: those of a task lease
    of the same duration, since the leases bound to it live by its renewals."""
    return LeaseTiming.of(config.lease_seconds, config.kill_grace_seconds)


def lease_body(config: ProviderConfig, instance: str, now: datetime) -> dict[str, object]:
    labels = {LABEL_PROVIDER: "true"}
    labels.update({f"{CAPABILITY_LABEL_PREFIX}{c}": "true" for c in config.capabilities})
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": lease_name(config.identity),
            "namespace": config.namespace,
            "labels": labels,
            "annotations": {
                ANNOTATION_CAPABILITIES: ",".join(config.capabilities),
                ANNOTATION_CONCURRENCY: str(config.concurrency),
                ANNOTATION_BUSY: "0",
                ANNOTATION_DRAINED: "false",
                ANNOTATION_INSTANCE: instance,
                ANNOTATION_RENEW_INTERVAL: str(presence_timing(config).interval),
            },
        },
        "spec": {
            "holderIdentity": config.identity,
            "leaseDurationSeconds": config.lease_seconds,
            "acquireTime": timestamp(now),
            "renewTime": timestamp(now),
        },
    }


def renewal(
    instance: str, now: datetime, busy: int = 0, drained: bool = False
) -> list[dict[str, Any]]:
    """Renew, only while the Lease is still this instance's; the same write tells the
    operator how many slots are busy (for its free-slot gauge) and whether a requested
    drain is done (nothing claimed or held, no new claims)."""
    return [
        {"op": "test", "path": "/metadata/annotations/taskmill.io~1instance", "value": instance},
        {"op": "replace", "path": "/spec/renewTime", "value": timestamp(now)},
        {"op": "add", "path": "/metadata/annotations/taskmill.io~1busy", "value": str(busy)},
        {
            "op": "add",
            "path": "/metadata/annotations/taskmill.io~1drained",
            "value": str(drained).lower(),
        },
    ]


def drain_requested(lease: dict[str, Any]) -> bool:
    annotations = lease.get("metadata", {}).get("annotations") or {}
    return annotations.get(ANNOTATION_DRAIN) == "true"


def instance_of(lease: dict[str, Any]) -> str:
    return str((lease.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_INSTANCE, ""))


class Presence:
    """Creates, renews and deletes the presence Lease."""

    def __init__(
        self,
        kube: KubeApi,
        config: ProviderConfig,
        now: Callable[[], datetime],
        *,
        instance: str | None = None,
        mono: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        busy: Callable[[], int] = lambda: 0,
        drain: Callable[[bool], bool] = lambda requested: False,
    ) -> None:
        self._kube = kube
        self._config = config
        self._now = now
        self._mono = mono
        self._sleep = sleep
        self._busy = busy
        # Told whether the operator asks for a drain (at each renewal); answers whether
        # the drain is done, which the next renewal reports.
        self._drain = drain
        self._drained = False
        self.instance = instance or new_instance_id()
        self.renewals = PresenceRenewals(self.instance)
        self._path = LEASES.path(config.namespace, lease_name(config.identity))
        self._uid = ""

    async def announce(self) -> None:
        """Create the Lease, or take over one an earlier process left behind (its stale
        capability labels go with it). Raises IdentityInUseError if that process lives."""
        try:
            await self._create()
            return
        except ApiError as e:
            if e.status != 409:
                raise
        existing = await self._kube.get(self._path)
        if instance_of(existing) == self.instance:
            self._uid = existing["metadata"].get("uid", "")
            return
        version = await self._await_stale(existing)
        if version is not None:
            try:
                await self._kube.delete(self._path, {"preconditions": {"resourceVersion": version}})
            except ApiError as e:
                if e.status == 409:
                    raise self._in_use(existing) from e
                if e.status != 404:
                    raise
        try:
            await self._create()
        except ApiError as e:
            if e.status == 409:
                raise self._in_use(existing) from e
            raise

    async def _create(self) -> None:
        body = lease_body(self._config, self.instance, self._now())
        sent = self._mono()
        created = await self._kube.create(LEASES.path(self._config.namespace), body)
        self._uid = created.get("metadata", {}).get("uid", "")
        self.renewals.renewed(sent)

    async def _await_stale(self, existing: dict[str, Any]) -> str | None:
        """Watch another instance's Lease for a lease duration: its resourceVersion if it
        was not renewed meanwhile, None if it is gone. Raises if it was renewed."""
        spec = existing.get("spec") or {}
        duration = float(spec.get("leaseDurationSeconds") or self._config.lease_seconds)
        version = str(existing["metadata"].get("resourceVersion", ""))
        log.warning(
            "presence Lease %s is held by instance %r; checking for %.0fs whether it is alive",
            lease_name(self._config.identity),
            instance_of(existing),
            duration,
        )
        step = duration / CHECKS_PER_DURATION
        for _ in range(CHECKS_PER_DURATION + 1):
            await self._sleep(step)
            try:
                current = await self._kube.get(self._path)
            except ApiError as e:
                if e.status == 404:
                    return None
                raise
            if str(current["metadata"].get("resourceVersion", "")) != version:
                raise self._in_use(current)
        log.info("instance %r is gone; taking over its identity", instance_of(existing))
        return version

    def _in_use(self, lease: dict[str, Any]) -> IdentityInUseError:
        name = lease_name(self._config.identity)
        return IdentityInUseError(
            f"provider identity {self._config.identity!r} is in use: presence Lease {name} in "
            f"{self._config.namespace} is held by another live process (instance "
            f"{instance_of(lease)!r}; this one is {self.instance!r}). Give every provider a "
            "unique identity (POD_NAME, or Provider(identity=...))"
        )

    async def keep(self) -> None:
        """Renew at the declared interval until cancelled (a failed renewal is retried
        sooner); recreate the Lease if someone deleted it.

        Raises IdentityInUseError once another instance holds the Lease."""
        timing = presence_timing(self._config)
        retry = min(float(timing.interval), RETRY_SECONDS)
        pause: float = timing.interval
        while True:
            await self._sleep(pause)
            pause = retry  # unless the renewal is accepted
            try:
                ops = renewal(self.instance, self._now(), self._busy(), self._drained)
                sent = self._mono()
                renewed = await self._kube.request(
                    "PATCH",
                    self._path,
                    body=ops,
                    content_type=JSON_PATCH,
                    # Unanswered past the holder's window, it keeps no lease alive.
                    request_timeout=timing.duration - timing.margin,
                )
                self.renewals.renewed(sent)
                pause = timing.interval
                drained = self._drain(drain_requested(renewed))
                if drained and not self._drained:
                    pause = 0  # tell the waiting operator now, not a renewal later
                self._drained = drained
            except ApiError as e:
                if e.conflict:
                    raise self._in_use(await self._current()) from e
                if e.status != 404:
                    log.warning("presence renewal failed: %s", e)
                    continue
                log.warning("presence Lease was deleted; announcing again")
                await self._announce_again()
            except (aiohttp.ClientError, TimeoutError) as e:
                log.warning("presence renewal failed: %s", e)

    async def _current(self) -> dict[str, Any]:
        try:
            return await self._kube.get(self._path)
        except (ApiError, aiohttp.ClientError, TimeoutError):
            return {}

    async def _announce_again(self) -> None:
        try:
            await self.announce()
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("presence announce failed: %s", e)

    async def retract(self) -> None:
        """Delete the Lease, only if it is still the one this instance created."""
        if not self._uid:
            return  # never announced: nothing here is ours
        try:
            await self._kube.delete(self._path, {"preconditions": {"uid": self._uid}})
        except ApiError as e:
            if e.status not in (404, 409):
                log.warning("could not delete presence Lease: %s", e)
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("could not delete presence Lease: %s", e)
