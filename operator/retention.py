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

Deletes go by blocks of indexes (splitting.BLOCK_SIZE; each Task is labelled with its
job's uid and its block): once status records every index of a block as succeeded, one
deletecollection removes the block's Tasks: one request per BLOCK_SIZE Tasks instead
of a DELETE each. A block that can no longer become whole (an index in it failed) goes Task by
Task, each with a uid precondition. Recorded Tasks of a block that is still running
wait for it, but never more than the live bound of them: beyond that the oldest go
Task by Task, so a straggler cannot keep a job's objects unbounded.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from taskmill.operator.indexranges import IndexRanges
from taskmill.operator.splitting import block_of, block_span
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


@dataclass(frozen=True)
class Retirement:
    """What one pass deletes: whole recorded blocks, and single Tasks by index."""

    blocks: dict[int, list[int]] = field(default_factory=dict)  # block -> its Tasks' indexes
    singles: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(map(len, self.blocks.values())) + len(self.singles)


def retirement(
    tasks: JobTasks, policy: RetentionPolicy, total: int, limit: int, *, final: bool = False
) -> Retirement:
    """The recorded Tasks that go now, about `limit` of them (lowest blocks first):
    blocks recorded whole as succeeded in one request each, the rest one by one when
    their block cannot become whole (an index failed, or the job is `final`: it makes
    and finishes nothing more) or too many recorded Tasks wait for theirs."""
    if not deletes_tasks(policy, total):
        return Retirement()
    by_block: defaultdict[int, list[int]] = defaultdict(list)
    for index in _deletable(tasks, policy):
        by_block[block_of(index)].append(index)
    whole: dict[int, list[int]] = {}
    singles: list[int] = []
    waiting: list[int] = []
    for block, indexes in sorted(by_block.items()):
        start, end = block_span(block, total)
        if tasks.succeeded_record.span_end(start) >= end:
            whole[block] = indexes
        elif final or _first_unrecorded(tasks, start, end) >= end:
            singles += indexes  # settled, with a failed index in it: never whole
        else:
            waiting += indexes
    singles += waiting[: max(0, len(waiting) - limit)]  # the oldest of too many waiting
    chosen = Retirement()
    budget = limit
    for block, indexes in whole.items():
        if chosen.blocks and len(indexes) > budget:
            break
        chosen.blocks[block] = indexes
        budget -= len(indexes)
    chosen.singles.extend(sorted(singles)[: max(0, budget)])
    return chosen


def _deletable(tasks: JobTasks, policy: RetentionPolicy) -> list[int]:
    """Indexes whose Task exists and may go: recorded and succeeded, or recorded and
    failed beyond the `keepFailedTasks` lowest failed indexes."""
    gone: list[int] = []
    failed: list[int] = []
    for index, task in tasks.finished.items():
        if index in tasks.unrecorded:
            continue
        if task.phase == TaskPhase.SUCCEEDED:
            gone.append(index)
        elif task.phase == TaskPhase.FAILED:
            failed.append(index)
    return gone + sorted(failed)[policy.keep_failed_tasks :]


def _first_unrecorded(tasks: JobTasks, start: int, end: int) -> int:
    """The lowest index in [start, end) the record holds as neither succeeded nor failed,
    or `end`."""
    index = start
    while index < end:
        step = max(tasks.succeeded_record.span_end(index), tasks.failed_record.span_end(index))
        if step == index:
            return index
        index = step
    return end
