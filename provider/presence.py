"""The provider's presence Lease: who it is, what it serves, how much it can take.

Format fixed with the operator: coordination.k8s.io/v1 Lease
`taskmill-provider-<identity>`, labelled `taskmill.io/provider=true` and
`capability.taskmill.io/<name>=true` per capability, annotated with the capability
list and concurrency, renewed every duration/3 with one merge patch of renewTime,
deleted on graceful exit.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import aiohttp
from taskmill.provider.config import ProviderConfig

from taskmill.api.meta import (
    CAPABILITY_LABEL_PREFIX,
    LABEL_PROVIDER,
    PROVIDER_LEASE_PREFIX,
)
from taskmill.api.protocol import timestamp
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.paths import LEASES

log = logging.getLogger(__name__)

ANNOTATION_CAPABILITIES = "taskmill.io/capabilities"
ANNOTATION_CONCURRENCY = "taskmill.io/concurrency"


def lease_name(identity: str) -> str:
    return f"{PROVIDER_LEASE_PREFIX}{identity}"


def lease_body(config: ProviderConfig, now: datetime) -> dict[str, object]:
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
            },
        },
        "spec": {
            "holderIdentity": config.identity,
            "leaseDurationSeconds": config.lease_seconds,
            "acquireTime": timestamp(now),
            "renewTime": timestamp(now),
        },
    }


def renewal(now: datetime) -> dict[str, object]:
    return {"spec": {"renewTime": timestamp(now)}}


class Presence:
    """Creates, renews and deletes the presence Lease."""

    def __init__(self, kube: KubeApi, config: ProviderConfig, now: Callable[[], datetime]) -> None:
        self._kube = kube
        self._config = config
        self._now = now
        self._path = LEASES.path(config.namespace, lease_name(config.identity))

    async def announce(self) -> None:
        """Create the Lease; one left by an earlier run under this identity is replaced,
        so stale capability labels go with it."""
        body = lease_body(self._config, self._now())
        try:
            await self._kube.create(LEASES.path(self._config.namespace), body)
        except ApiError as e:
            if e.status != 409:
                raise
            await self._kube.delete(self._path)
            await self._kube.create(LEASES.path(self._config.namespace), body)

    async def keep(self) -> None:
        """Renew every duration/3 until cancelled; recreate the Lease if someone deleted it."""
        interval = self._config.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self._kube.merge_patch(self._path, renewal(self._now()))
            except ApiError as e:
                if e.status != 404:
                    log.warning("presence renewal failed: %s", e)
                    continue
                log.warning("presence Lease was deleted; announcing again")
                await self._announce_again()
            except (aiohttp.ClientError, TimeoutError) as e:
                log.warning("presence renewal failed: %s", e)

    async def _announce_again(self) -> None:
        try:
            await self.announce()
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("presence announce failed: %s", e)

    async def retract(self) -> None:
        try:
            await self._kube.delete(self._path)
        except ApiError as e:
            if e.status != 404:
                log.warning("could not delete presence Lease: %s", e)
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("could not delete presence Lease: %s", e)
