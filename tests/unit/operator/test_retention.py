"""Retention: which finished Tasks go, what status records first, and counting each
finished index once whether its Task is still there or gone."""

import pytest
from taskmill.operator.counting import tally
from taskmill.operator.indexranges import IndexRanges
from taskmill.operator.retention import deletes_tasks, doomed, next_record
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
    assert doomed(tasks, DELETE, 7, limit=100) == [0, 3, 6]
    assert doomed(tasks, DELETE, 7, limit=2) == [0, 3]
    keep = RetentionPolicy.model_validate({"succeededTasks": "Keep"})
    assert doomed(tasks, keep, 7, limit=100) == []


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
