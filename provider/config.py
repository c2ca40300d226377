"""What one provider process is: its identity, the capabilities it serves, its capacity."""

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from taskmill.provider.lease_clock import kill_grace_fits, shortest_lease

from taskmill.api.meta import CAPABILITY_PATTERN, is_label_value
from taskmill.metrics import BindAddress

DEFAULT_LEASE_SECONDS = 15
DEFAULT_GRACE_SECONDS = 30.0
DEFAULT_KILL_GRACE_SECONDS = 5.0
DEFAULT_TOP_K = 3


class PendingWatch(StrEnum):
    """Which Pending Tasks a provider watches (taskmill.provider.agent)."""

    ALL = "all"  # every one of its capabilities: it sees the whole queue
    # Its own nominees and nobody's; others' only while it has nothing else to take. A
    # provider hears of a task once, not once per provider. Priority still holds across
    # providers: the operator nominates only tasks at their capability's priority floor,
    # so any that outranks what waits is nobody's (taskmill.operator.floors).
    NOMINATED = "nominated"


DEFAULT_PENDING_WATCH = PendingWatch.NOMINATED


@dataclass(frozen=True)
class ProviderConfig:
    """Settings shared by the command provider and the SDK.

    lease_seconds is both the presence Lease's duration and the longest lease the
    provider takes on a Task (a Task may allow less). grace_seconds is how long a
    graceful shutdown lets running work finish; kill_grace_seconds is how long work
    that must stop gets between SIGTERM and SIGKILL (or, for SDK handlers, between
    ctx.cancelled and being abandoned). top_k is the narrowest spread of claims over
    the top candidates (see candidates.Spread). capability_concurrency caps the tasks
    of one capability run at once, within concurrency (the SDK's per-handler option).
    """

    capabilities: tuple[str, ...]
    identity: str
    namespace: str
    concurrency: int = 1
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    kill_grace_seconds: float = DEFAULT_KILL_GRACE_SECONDS
    top_k: int = DEFAULT_TOP_K
    metrics_address: BindAddress | None = None  # None: metrics not served
    health_port: int | None = None  # /healthz and /readyz; None: not served
    capability_concurrency: Mapping[str, int] = field(default_factory=dict)
    stores_file: Path | None = None  # object stores for tasks with files; None: none
    pending_watch: PendingWatch = DEFAULT_PENDING_WATCH

    @property
    def watches_nominees(self) -> bool:
        """Whether it watches its own nominees and nobody's rather than every Pending
        Task: only an identity that is a label value can be nominated (in the label
        taskmill.io/nominee), so any other watches them all."""
        return self.pending_watch == PendingWatch.NOMINATED and is_label_value(self.identity)

    def __post_init__(self) -> None:
        if not self.capabilities:
            raise ValueError("a provider needs at least one capability")
        for capability in self.capabilities:
            if not re.fullmatch(CAPABILITY_PATTERN, capability):
                raise ValueError(
                    f"invalid capability {capability!r}: must match {CAPABILITY_PATTERN}"
                )
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        for capability, limit in self.capability_concurrency.items():
            if capability not in self.capabilities:
                raise ValueError(f"concurrency for {capability!r}, which is not served")
            if not 1 <= limit <= self.concurrency:
                raise ValueError(
                    f"concurrency {limit} for {capability!r} must be between 1 and the "
                    f"provider's concurrency {self.concurrency}"
                )
        if not 5 <= self.lease_seconds <= 3600:
            raise ValueError("lease seconds must be between 5 and 3600")
        if not self.identity:
            raise ValueError("a provider needs an identity")
        if self.kill_grace_seconds < 0:
            raise ValueError("kill grace seconds must not be negative")
        if not kill_grace_fits(self.lease_seconds, self.kill_grace_seconds):
            raise ValueError(
                f"--kill-grace-seconds {self.kill_grace_seconds:g} does not fit in "
                f"--lease-seconds {self.lease_seconds}: a holder that cannot renew stops its "
                "work that long before its lease ends, and must still be able to renew "
                f"first; raise --lease-seconds to at least "
                f"{shortest_lease(self.kill_grace_seconds)} or lower --kill-grace-seconds "
                "(in the SDK: Provider(lease_seconds=..., kill_grace_seconds=...))"
            )


def parse_capabilities(values: list[str]) -> tuple[str, ...]:
    """`a,b` and repeated flags alike, deduplicated, in first-seen order."""
    names = [name.strip() for value in values for name in value.split(",")]
    return tuple(dict.fromkeys(name for name in names if name))


def identity_from_env(env: Mapping[str, str] = os.environ) -> str:
    """The pod name from the Downward API (POD_NAME), else the host name.

    Lowercased because it becomes part of the presence Lease's name.
    """
    return (env.get("POD_NAME") or socket.gethostname()).lower()


def namespace_from_env(env: Mapping[str, str] = os.environ) -> str:
    return env.get("POD_NAMESPACE") or "default"
