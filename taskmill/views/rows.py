"""One row per workload: the columns every view shows, from a normalized object."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from taskmill.api.common import NormalizedStatus
from taskmill.status.survey import Row

# Most urgent first: what sorting by STATUS means (never alphabetical).
SEVERITY = (
    NormalizedStatus.FAILURE,
    NormalizedStatus.LATE_TO_START,
    NormalizedStatus.RUNNING_LATE,
    NormalizedStatus.RESTART,
    NormalizedStatus.ON_HOLD,
    NormalizedStatus.UNKNOWN,
    NormalizedStatus.WAITING,
    NormalizedStatus.INACTIVE,
    NormalizedStatus.RUNNING,
    NormalizedStatus.CANCEL,
    NormalizedStatus.SUCCESS,
)
RANK = {str(value): rank for rank, value in enumerate(SEVERITY)}


@dataclass(frozen=True)
class WorkloadRow:
    kind: str
    namespace: str
    name: str
    status: str
    progress: str
    reason: str
    policy: str
    rule: str
    created: datetime | None
    started: datetime | None
    finished: datetime | None
    labels: Mapping[str, str] = field(default_factory=dict)
    retries: int = 0  # attempts being retried now (Restart storms)
    errors: tuple[str, ...] = ()  # rules that failed on it and adapter problems

    def age(self, now: datetime) -> timedelta | None:
        return None if self.created is None else now - self.created

    def duration(self, now: datetime) -> timedelta | None:
        if self.started is None:
            return None
        return (self.finished or now) - self.started

    def as_json(self, now: datetime) -> dict[str, Any]:
        """The `-o json` item: provenance included, times as RFC 3339."""
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "normalizedStatus": self.status,
            "policy": self.policy,
            "rule": self.rule,
            "reason": self.reason,
            "progress": self.progress,
            "creationTimestamp": _stamp(self.created),
            "startTime": _stamp(self.started),
            "completionTime": _stamp(self.finished),
            "ageSeconds": _seconds(self.age(now)),
            "durationSeconds": _seconds(self.duration(now)),
            "errors": list(self.errors),
        }


def workload_row(row: Row) -> WorkloadRow:
    obj = row.obj
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    return WorkloadRow(
        kind=row.kind,
        namespace=row.namespace,
        name=row.name,
        status=str(row.verdict.value),
        progress=progress(obj),
        reason=row.verdict.reason,
        policy=row.verdict.policy,
        rule=row.verdict.rule,
        created=parse_time(metadata.get("creationTimestamp")),
        started=parse_time(status.get("startTime") or status.get("startedAt")),
        finished=parse_time(status.get("completionTime") or status.get("finishedAt")),
        labels=dict(metadata.get("labels") or {}),
        retries=retries(obj),
        errors=(*row.verdict.errors, *row.problems),
    )


def progress(obj: Mapping[str, Any]) -> str:
    """What "how far along" means for the kind; empty when it has no such notion."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if kind == "BatchJob":
        return str(status.get("progress") or "")
    if kind == "Job" and str(obj.get("apiVersion", "")).startswith("batch/"):
        total = spec.get("completions") or spec.get("parallelism") or 1
        return f"{status.get('succeeded', 0)}/{total}"
    if kind == "CronJob":
        active = len(status.get("active") or ())
        return f"{active} active" if active else ""
    if kind == "Task":
        return f"attempt {status.get('attempts', 0)}"
    return ""


def retries(obj: Mapping[str, Any]) -> int:
    status = obj.get("status") or {}
    if obj.get("kind") == "BatchJob":
        return int((status.get("counts") or {}).get("retrying", 0))
    if obj.get("kind") == "Job":
        return int(status.get("failed", 0))
    return 0


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def human(delta: timedelta | None) -> str:
    """kubectl's short durations: 45s, 12m, 3h, 5d."""
    if delta is None:
        return "-"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())
