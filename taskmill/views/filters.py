"""What a view shows: filters, columns and order, from flags or a saved JobView.

Label selectors are not here: they go to the API server with each list, which checks
them and answers only what matches.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from taskmill.api.common import NormalizedStatus
from taskmill.views.rows import RANK, WorkloadRow

COLUMNS = ("NAME", "KIND", "NAMESPACE", "STATUS", "PROGRESS", "AGE", "DURATION", "REASON")
WIDE = (*COLUMNS, "POLICY", "RULE")
_NEVER = timedelta.max


class ViewError(ValueError):
    """A filter, column or sort key that cannot work; the message names it."""


@dataclass(frozen=True)
class View:
    kinds: tuple[str, ...] = ()  # Kind or Kind.group, case-insensitive
    statuses: tuple[str, ...] = ()
    name: str = ""  # substring
    since: timedelta | None = None  # created at most this long ago
    sort_by: str = "STATUS"
    columns: tuple[str, ...] = COLUMNS

    def check(self) -> "View":
        """This view, or ViewError naming the first value that cannot work."""
        known = {str(v) for v in NormalizedStatus}
        for status in self.statuses:
            if status not in known:
                raise ViewError(f"--status {status!r}: not one of {', '.join(sorted(known))}")
        for column in self.columns:
            if column.upper() not in WIDE:
                raise ViewError(f"column {column!r}: not one of {', '.join(WIDE)}")
        if self.sort_by.upper() not in WIDE:
            raise ViewError(f"--sort-by {self.sort_by!r}: not one of {', '.join(WIDE)}")
        return self

    def select(self, rows: Sequence[WorkloadRow], now: datetime) -> list[WorkloadRow]:
        kept = [row for row in rows if self._keeps(row, now)]
        return sorted(kept, key=_sort_key(self.sort_by.upper(), now))

    def _keeps(self, row: WorkloadRow, now: datetime) -> bool:
        if self.kinds and not any(_kind_matches(row.kind, k) for k in self.kinds):
            return False
        if self.statuses and row.status not in self.statuses:
            return False
        if self.name and self.name not in row.name:
            return False
        if self.since is not None:
            age = row.age(now)
            return age is not None and age <= self.since
        return True


def _kind_matches(kind: str, wanted: str) -> bool:
    return kind.lower() == wanted.split(".", 1)[0].lower()


def _sort_key(column: str, now: datetime) -> Callable[[WorkloadRow], Any]:
    keys: dict[str, Callable[[WorkloadRow], Any]] = {
        "NAME": lambda r: r.name,
        "KIND": lambda r: r.kind,
        "NAMESPACE": lambda r: r.namespace,
        "STATUS": lambda r: RANK.get(r.status, len(RANK)),
        "PROGRESS": lambda r: r.progress,
        "AGE": lambda r: r.age(now) or _NEVER,
        "DURATION": lambda r: r.duration(now) or _NEVER,
        "REASON": lambda r: r.reason,
        "POLICY": lambda r: r.policy,
        "RULE": lambda r: r.rule,
    }
    primary = keys[column]
    return lambda r: (primary(r), r.namespace, r.kind, r.name)
