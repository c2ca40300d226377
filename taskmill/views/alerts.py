"""What needs attention now, most severe first, each with what to look at next."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from taskmill.views.capacity import Capacity
from taskmill.views.rows import RANK, WorkloadRow

CRITICAL, WARNING = "critical", "warning"
RESTART_STORM = 3  # retries of one workload at once that make a storm


@dataclass(frozen=True)
class Alert:
    severity: str
    title: str
    subject: str  # Kind/namespace/name, or capability/<name>
    reason: str
    next_step: str


def alerts(
    rows: Sequence[WorkloadRow], capacities: Iterable[Capacity], now: datetime
) -> list[Alert]:
    found: list[tuple[int, Alert]] = []
    for row in rows:
        alert = _for_row(row)
        if alert is not None:
            found.append((RANK.get(row.status, 99), alert))
    for cap in capacities:
        if cap.pending and not cap.providers:
            found.append(
                (
                    -1,  # nothing at all will run: above every workload alert
                    Alert(
                        CRITICAL,
                        "backlog with no provider",
                        f"capability/{cap.capability}",
                        f"{cap.pending} task(s) wait and no live provider serves {cap.capability}",
                        f"start a provider for {cap.capability} (the chart's "
                        "providers.pools), or check its pods: kubectl get leases "
                        "-l taskmill.io/provider=true",
                    ),
                )
            )
    found.sort(key=lambda pair: (pair[1].severity != CRITICAL, pair[0], pair[1].subject))
    return [alert for _, alert in found]


def _for_row(row: WorkloadRow) -> Alert | None:
    subject = f"{row.kind}/{row.namespace}/{row.name}"
    look = _look(row)
    if row.status == "Failure":
        return Alert(CRITICAL, "failed", subject, row.reason, look)
    if row.status == "LateToStart":
        return Alert(WARNING, "late to start", subject, row.reason, look)
    if row.status == "RunningLate":
        return Alert(WARNING, "running late", subject, row.reason, look)
    if row.status == "Restart" and row.retries >= RESTART_STORM:
        return Alert(
            WARNING, "restart storm", subject, f"{row.retries} retries: {row.reason}", look
        )
    return None


def _look(row: WorkloadRow) -> str:
    if row.kind == "BatchJob":
        return f"kubectl taskmill why {row.name} -n {row.namespace}"
    if row.kind == "Job":
        return f"kubectl describe job {row.name} -n {row.namespace}; kubectl logs job/{row.name}"
    return f"kubectl describe {row.kind.lower()} {row.name} -n {row.namespace}"
