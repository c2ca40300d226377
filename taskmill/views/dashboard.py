"""The summary: workloads by normalized status and kind, capacity per capability, and
tasks finished per minute over the last minutes."""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from taskmill.api.common import TaskPhase
from taskmill.views.capacity import Capacity
from taskmill.views.rows import SEVERITY, WorkloadRow, parse_time

THROUGHPUT_MINUTES = 10
FINISHED = frozenset({TaskPhase.SUCCEEDED, TaskPhase.FAILED})


@dataclass(frozen=True)
class Dashboard:
    by_status: dict[str, int]  # in severity order
    by_kind: dict[str, dict[str, int]]  # kind -> status -> count
    capacity: list[Capacity]
    # Tasks finished in each of the last minutes, oldest first (the newest is partial).
    per_minute: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "byStatus": self.by_status,
            "byKind": self.by_kind,
            "capabilities": [
                {
                    "capability": c.capability,
                    "pending": c.pending,
                    "running": c.running,
                    "providers": c.providers,
                    "freeSlots": c.free_slots,
                }
                for c in self.capacity
            ],
            "tasksFinishedPerMinute": self.per_minute,
        }


def dashboard(
    rows: Sequence[WorkloadRow],
    capacity: list[Capacity],
    tasks: Iterable[Mapping[str, Any]],
    now: datetime,
) -> Dashboard:
    counts = Counter(row.status for row in rows)
    by_kind: dict[str, dict[str, int]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, {}).setdefault(row.status, 0)
        by_kind[row.kind][row.status] += 1
    return Dashboard(
        by_status={str(v): counts[str(v)] for v in SEVERITY if counts[str(v)]},
        by_kind=by_kind,
        capacity=capacity,
        per_minute=per_minute(tasks, now),
    )


def per_minute(
    tasks: Iterable[Mapping[str, Any]], now: datetime, minutes: int = THROUGHPUT_MINUTES
) -> list[int]:
    buckets = [0] * minutes
    for task in tasks:
        status = task.get("status") or {}
        if status.get("phase") not in FINISHED:
            continue
        done = parse_time(status.get("completionTime"))
        if done is None:
            continue
        ago = (now - done) // timedelta(minutes=1)
        if 0 <= ago < minutes:
            buckets[minutes - 1 - ago] += 1
    return buckets
