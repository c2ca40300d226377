"""Tasks named for a job but not owned by it, and what becomes of them.

A Task counts for a BatchJob only when its controller ownerReference carries that job's
uid, as the Job controller does it. A job deleted with `--cascade=orphan` (or whose
Tasks the garbage collector has not removed yet) and applied again under the same
name finds Tasks with its Task names that belong to the earlier job. They are never
adopted or counted; the operator deletes them (the garbage collector would do the
same for those whose owner is gone; orphans it never would) and creates the job's own
Tasks under those names once they are gone.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from taskmill.operator.splitting import task_name
from taskmill.operator.store import JobTasks

from taskmill.api import BatchJob, ObjectMeta

DELETED_FOREIGN_TASKS = "DeletedForeignTasks"


@dataclass(frozen=True)
class ForeignTasks:
    names: list[str] = field(default_factory=list)  # to delete in this pass
    occupied: frozenset[int] = frozenset()  # indexes the job may not create yet
    count: int = 0

    @property
    def message(self) -> str:
        if not self.count:
            return ""
        return (
            f"{self.count} Tasks named for this job belong to an earlier BatchJob of the same "
            "name; they are not counted, and the operator deletes them before it creates this "
            "job's own Tasks under their names"
        )


def foreign_tasks(job: str, others: list[tuple[str, JobTasks]], limit: int) -> ForeignTasks:
    """What to do about the Tasks of other owners (store.foreign_tasks): up to `limit`
    of them are deleted per pass."""
    if not others:
        return ForeignTasks()
    occupied = frozenset().union(*(tasks.indexes for _, tasks in others))
    names = list(_names(job, others, limit))
    return ForeignTasks(names, occupied, len(occupied))


def _names(job: str, others: list[tuple[str, JobTasks]], limit: int) -> Iterator[str]:
    found = 0
    for _, tasks in others:
        for index in sorted(tasks.indexes):
            if found >= limit:
                return
            found += 1
            yield task_name(job, index)


def deletion_preconditions(job: BatchJob, task: dict[str, Any]) -> dict[str, str] | None:
    """How to delete a Task read back as foreign: only that very version of it. None when
    it turns out to be the job's own (the index was stale): it is kept."""
    meta = ObjectMeta.model_validate(task.get("metadata", {}))
    if meta.controller_uid == job.metadata.uid:
        return None
    return {"uid": meta.uid, "resourceVersion": meta.resource_version}


def deleted_note(job: BatchJob, deleted: int) -> tuple[str, str]:
    return (
        DELETED_FOREIGN_TASKS,
        f"deleted {deleted} Tasks left by an earlier BatchJob named {job.metadata.name}",
    )
