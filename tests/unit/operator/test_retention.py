"""Retention: which finished Tasks go, what status records first, and counting each
finished index once whether its Task is still there or gone."""

import pytest
from taskmill.operator.counting import tally
from taskmill.operator.indexranges import IndexRanges
from taskmill.operator.retention import Retirement, deletes_tasks, next_record, retirement
from taskmill.operator.splitting import BLOCK_SIZE
from taskmill.operator.store import JobTasks

from taskmill.api import TaskPhase
from taskmill.api.batchjob import AUTO_DELETE_ABOVE_TASKS, RetentionPolicy
from tests.unit.operator.rows import job_tasks, row

S, F, C = TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.CANCELLED


def ranges(text: str) -> IndexRanges:
    return IndexRanges.parse(text)


@pytest.mark.parametrize(
    ("mode", "total", "deletes"),
    [
        ("Auto", AUTO_DELETE_ABOVE_TASKS, False),  # small jobs stay as they always were
        ("Auto", AUTO_DELETE_ABOVE_TASKS + 1, True),
        ("Keep", 1_000_000, False),
        ("Delete", 1, True),
    ],
)
def test_policy(mode: str, total: int, deletes: bool) -> None:
    policy = RetentionPolicy.model_validate({"succeededTasks": mode})
    assert deletes_tasks(policy, total) is deletes


def test_the_record_takes_every_succeeded_and_failed_index_never_a_cancelled_one() -> None:
    tasks = job_tasks(row(0, S), row(1, S), row(2, F), row(3, C), row(4, TaskPhase.RUNNING))
    tasks.adopt(ranges("5-9"), ranges(""))
    record = next_record(tasks)
    assert (str(record.succeeded), str(record.failed)) == ("0-1,5-9", "2")


def test_a_record_that_would_outgrow_its_bound_stays_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("taskmill.operator.retention.MAX_INDEX_RANGES_LENGTH", 4)
    tasks = job_tasks(row(0, S), row(2, S), row(4, S))
    tasks.adopt(ranges("0"), ranges(""))
    record = next_record(tasks)
    assert str(record.succeeded) == "0"  # "0,2,4" is too long: kept Tasks, counted as such
    assert tally(tasks, 5, stopped=False, job="job").counts.succeeded == 3


DELETE = RetentionPolicy.model_validate({"succeededTasks": "Delete", "keepFailedTasks": 2})


def test_only_recorded_tasks_go_and_the_lowest_failed_stay() -> None:
    rows = [row(0, S), row(1, F), row(2, F), row(3, F), row(4, S), row(5, C), row(6, F)]
    tasks = job_tasks(*rows)
    tasks.adopt(ranges("0"), ranges("1-3,6"))  # 4 succeeded but is not recorded yet
    # The block (0-6) cannot become whole: a failed index is in it. Only once the job
    # is final do its recorded Tasks go at all, one by one: block 0 still runs (4, 5).
    assert retirement(tasks, DELETE, 7, limit=100) == Retirement()
    assert retirement(tasks, DELETE, 7, limit=100, final=True).singles == [0, 3, 6]
    assert retirement(tasks, DELETE, 7, limit=2, final=True).singles == [0, 3]
    keep = RetentionPolicy.model_validate({"succeededTasks": "Keep"})
    assert retirement(tasks, keep, 7, limit=100, final=True) == Retirement()


B = BLOCK_SIZE
TOTAL = 3 * B + 10  # blocks 0-2 of B indexes, block 3 of 10


@pytest.mark.parametrize(
    ("succeeded", "failed", "limit", "blocks", "singles"),
    [
        # a block recorded whole as succeeded goes in one request; the last is short
        (f"0-{B - 1}", "", 500, [0], []),
        (f"{3 * B}-{TOTAL - 1}", "", 500, [3], []),
        # a block still running waits for its last Tasks
        (f"0-{B - 2}", "", 500, [], []),
        # ... but only `limit` recorded Tasks wait: the oldest beyond go one by one
        (f"0-{B - 2},{B}-{2 * B - 2}", "", B, [], list(range(B - 2))),
        # a block that can never be whole (a failed index) goes Task by Task
        (f"0-{B - 2}", f"{B - 1}", 500, [], list(range(B - 1))),
        # at most `limit` Tasks a pass, lowest blocks first; one block always fits
        (f"0-{TOTAL - 1}", "", 2 * B, [0, 1], []),
        (f"0-{TOTAL - 1}", "", 10, [0], []),
    ],
)
def test_recorded_tasks_go_by_whole_blocks(
    succeeded: str, failed: str, limit: int, blocks: list[int], singles: list[int]
) -> None:
    finished = ranges(succeeded)
    tasks = job_tasks(
        *(
            row(i, S if i in finished else F if i in ranges(failed) else TaskPhase.RUNNING)
            for i in range(TOTAL)
        )
    )
    tasks.adopt(finished, ranges(failed))
    going = retirement(tasks, DELETE, TOTAL, limit)
    assert (sorted(going.blocks), going.singles) == (blocks, singles)
    for block, indexes in going.blocks.items():
        assert indexes == [i for i in range(TOTAL) if i // B == block]


def test_a_block_whose_tasks_are_partly_gone_goes_whole() -> None:
    """After a crash mid-block, or a relist, only some of a recorded block's Tasks are
    left: the block still goes in one request, naming the ones left."""
    tasks = job_tasks(*(row(i, S) for i in range(5, B)))
    tasks.adopt(ranges(f"0-{B - 1}"), ranges(""))
    assert retirement(tasks, DELETE, 2 * B, 500).blocks == {0: list(range(5, B))}


def test_each_finished_index_counts_once_present_recorded_or_gone() -> None:
    tasks = job_tasks(row(0, S), row(1, S), row(2, F), row(3, TaskPhase.RUNNING))
    before = tally(tasks, 10, stopped=False, job="job").counts
    tasks.adopt(ranges("0-1"), ranges("2"))  # recorded, Tasks still there
    recorded = tally(tasks, 10, stopped=False, job="job").counts
    for index in (0, 1, 2):
        tasks.remove(f"job-{index}", index)  # deleted
    gone = tally(tasks, 10, stopped=False, job="job")
    assert before == recorded == gone.counts
    assert (gone.counts.succeeded, gone.counts.failed, gone.counts.leased) == (2, 1, 1)
    assert gone.counts.pending == 6  # 4-9, never 0-2 again
    assert gone.failed_tasks == ["job-2"]


def test_recorded_indexes_are_made_and_never_created_again() -> None:
    tasks = JobTasks()
    tasks.adopt(ranges("0-4,7"), ranges("5"))
    tasks.put(row(6, TaskPhase.PENDING))
    assert [i for i in range(10) if not tasks.made(i)] == [8, 9]
    assert (tasks.first_unmade(0, 10), tasks.first_unmade(9, 10), tasks.first_unmade(0, 7)) == (
        8,
        9,
        7,
    )
    tasks.cursor = 8
    tasks.remove("job-3", 3)  # a recorded Task deleted: the cursor stays
    assert tasks.cursor == 8
    tasks.remove("job-6", 6)  # an unrecorded one lost: made again
    assert tasks.cursor == 6


def test_a_record_that_shrank_is_taken_as_it_is() -> None:
    """Only a hand-edited status shrinks; what it no longer holds counts from its Task."""
    tasks = job_tasks(row(0, S), row(1, S))
    tasks.adopt(ranges("0-1"), ranges(""))
    tasks.adopt(ranges("0"), ranges(""))
    assert tasks.unrecorded == {1: S}
    assert tally(tasks, 2, stopped=False, job="job").counts.succeeded == 2
