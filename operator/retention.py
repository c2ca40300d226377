"""Which finished Tasks stay as objects: pure decisions over a job's index (JobTasks).

A finished Task may be deleted only after the job's status records its index
(status.succeededIndexes or failedIndexes), in a status write fenced on the job's
resourceVersion. From then on the record is the truth: the splitter never makes a
recorded index again and the counts take it from the record, so a crash between the
write and the delete leaves a recorded Task that the next pass (or the next leader)
deletes, and counts once.

The record takes every succeeded and failed index, whatever the policy; the policy
(spec.retention) decides only which recorded Tasks go. Cancelled Tasks are never
recorded or deleted: a job has at most its live bound of them.
"""

from dataclasses import dataclass

from taskmill.operator.indexranges import IndexRanges
from taskmill.operator.store import JobTasks

from taskmill.api import TaskPhase
from taskmill.api.batchjob import (
    AUTO_DELETE_ABOVE_TASKS,
    MAX_INDEX_RANGES_LENGTH,
    RetentionPolicy,
    TaskRetention,
)


@dataclass(frozen=True)
class Record:
    """What status records: the finished indexes, as ranges."""

    succeeded: IndexRanges
    failed: IndexRanges

    @classmethod
    def parse(cls, succeeded: str, failed: str) -> "Record":
        return cls(IndexRanges.parse(succeeded), IndexRanges.parse(failed))


def next_record(tasks: JobTasks) -> Record:
    """The record with every finished index the Tasks show added; the record as it is if
    either list would outgrow its bound (later finished Tasks are then kept, and counted
    from the Tasks: correct, only no longer bounded)."""
    succeeded = tasks.succeeded_record.union(
        i for i, phase in tasks.unrecorded.items() if phase == TaskPhase.SUCCEEDED
    )
    failed = tasks.failed_record.union(
        i for i, phase in tasks.unrecorded.items() if phase == TaskPhase.FAILED
    )
    if max(len(str(succeeded)), len(str(failed))) > MAX_INDEX_RANGES_LENGTH:
        return Record(tasks.succeeded_record, tasks.failed_record)
    return Record(succeeded, failed)


def deletes_tasks(policy: RetentionPolicy, total: int) -> bool:
    """Whether the job's recorded Tasks are deleted (spec.retention.succeededTasks)."""
    match policy.succeeded_tasks:
        case TaskRetention.KEEP:
            return False
        case TaskRetention.DELETE:
            return True
    return total > AUTO_DELETE_ABOVE_TASKS


def doomed(tasks: JobTasks, policy: RetentionPolicy, total: int, limit: int) -> list[int]:
    """Up to `limit` indexes whose Task exists and may go now: recorded and succeeded,
    or recorded and failed beyond the `keepFailedTasks` lowest failed indexes."""
    if not deletes_tasks(policy, total):
        return []
    gone: list[int] = []
    failed: list[int] = []
    for index, task in tasks.finished.items():
        if index in tasks.unrecorded:
            continue
        if task.phase == TaskPhase.SUCCEEDED:
            gone.append(index)
        elif task.phase == TaskPhase.FAILED:
            failed.append(index)
    gone += sorted(failed)[policy.keep_failed_tasks :]
    return sorted(gone)[:limit]
