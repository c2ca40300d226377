"""Text for the terminal: kubectl-style tables, the alert list, the dashboard, causes."""

from collections.abc import Sequence
from datetime import datetime

from taskmill.views.alerts import Alert
from taskmill.views.dashboard import Dashboard
from taskmill.views.rows import WorkloadRow, human
from taskmill.views.why import Cause

MAX_REASON = 60
SPARK = " ▁▂▃▄▅▆▇█"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, three spaces apart, as kubectl prints."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [headers, *rows]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def cell(row: WorkloadRow, column: str, now: datetime) -> str:
    value = {
        "NAME": row.name,
        "KIND": row.kind,
        "NAMESPACE": row.namespace,
        "STATUS": row.status,
        "PROGRESS": row.progress or "-",
        "AGE": human(row.age(now)),
        "DURATION": human(row.duration(now)),
        "REASON": _short(row.reason),
        "POLICY": row.policy or "-",
        "RULE": row.rule or "-",
    }[column]
    return value


def status_table(rows: Sequence[WorkloadRow], columns: Sequence[str], now: datetime) -> str:
    return table(columns, [[cell(r, c, now) for c in columns] for r in rows])


def alert_list(found: Sequence[Alert]) -> str:
    if not found:
        return "No alerts."
    return "\n".join(
        f"{a.severity.upper():<8} {a.title}: {a.subject}\n         {a.reason}\n"
        f"         next: {a.next_step}"
        for a in found
    )


def dashboard_text(board: Dashboard) -> str:
    parts = ["WORKLOADS BY STATUS"]
    parts.append(table(["STATUS", "COUNT"], [[s, str(n)] for s, n in board.by_status.items()]))
    statuses = list(board.by_status)
    if board.by_kind and statuses:
        parts += ["", "BY KIND"]
        rows = [[kind, *(str(c.get(s, 0)) for s in statuses)] for kind, c in board.by_kind.items()]
        parts.append(table(["KIND", *(s.upper() for s in statuses)], rows))
    if board.capacity:
        parts += ["", "CAPABILITIES"]
        parts.append(
            table(
                ["CAPABILITY", "BACKLOG", "RUNNING", "PROVIDERS", "FREE SLOTS"],
                [
                    [
                        c.capability,
                        str(c.pending),
                        str(c.running),
                        str(c.providers),
                        str(c.free_slots),
                    ]
                    for c in board.capacity
                ],
            )
        )
    if board.per_minute:
        peak = max(board.per_minute) or 1
        line = "".join(SPARK[round(n / peak * (len(SPARK) - 1))] for n in board.per_minute)
        parts += ["", f"TASKS FINISHED PER MINUTE (last {len(board.per_minute)} min)"]
        parts.append(f"{line}  now {board.per_minute[-1]}/min, peak {max(board.per_minute)}/min")
    return "\n".join(parts)


def causes_text(kind: str, name: str, causes: Sequence[Cause]) -> str:
    if not causes:
        return f"{kind} {name}: nothing holds it back."
    lines = [f"{kind} {name}:"]
    for cause in causes:
        lines.append(f"- {cause.title}: {cause.detail}")
        if cause.next_step:
            lines.append(f"    next: {cause.next_step}")
    return "\n".join(lines)


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
