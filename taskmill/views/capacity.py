"""Backlog and providers per capability, from Tasks and provider presence Leases."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from taskmill.api.common import TaskPhase
from taskmill.api.presence import provider_from_lease
from taskmill.views.rows import parse_time

RUNNING_PHASES = frozenset({TaskPhase.LEASED, TaskPhase.RUNNING})


@dataclass(frozen=True)
class LiveProvider:
    name: str
    namespace: str
    capabilities: frozenset[str]
    slots: int
    busy: int


@dataclass
class Capacity:
    capability: str
    pending: int = 0  # the backlog: leasable now
    running: int = 0
    providers: int = 0
    free_slots: int = 0


def live_providers(leases: Iterable[Mapping[str, Any]], now: datetime) -> list[LiveProvider]:
    """Providers whose presence Lease was renewed within its duration."""
    live = []
    for lease in leases:
        renewed = parse_time((lease.get("spec") or {}).get("renewTime"))
        provider = provider_from_lease(dict(lease))
        if renewed is None or now - renewed > timedelta(seconds=provider.duration_seconds):
            continue
        meta = lease.get("metadata") or {}
        live.append(
            LiveProvider(
                str(meta.get("name", "")),
                str(meta.get("namespace", "")),
                provider.capabilities,
                provider.slots,
                provider.busy,
            )
        )
    return live


def capacity(
    tasks: Iterable[Mapping[str, Any]], providers: Iterable[LiveProvider]
) -> list[Capacity]:
    """Per capability: pending and running Tasks, live providers and their free slots."""
    table: dict[str, Capacity] = {}

    def row(capability: str) -> Capacity:
        return table.setdefault(capability, Capacity(capability))

    for task in tasks:
        capability = str((task.get("spec") or {}).get("capability", ""))
        phase = (task.get("status") or {}).get("phase", TaskPhase.PENDING)
        if phase == TaskPhase.PENDING:
            row(capability).pending += 1
        elif phase in RUNNING_PHASES:
            row(capability).running += 1
    for provider in providers:
        for capability in provider.capabilities:
            entry = row(capability)
            entry.providers += 1
            entry.free_slots += max(0, provider.slots - provider.busy)
    return sorted(table.values(), key=lambda c: c.capability)
