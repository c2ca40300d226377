"""Task counts from rows: disjoint pending/retrying, uncreated tasks, failed names."""

from taskmill.operator.counting import tally

from taskmill.api import TaskPhase
from taskmill.api.protocol import HELD_BACKOFF, HELD_CANCEL_ACK, HELD_SUSPENDED
from tests.unit.operator.builders import at
from tests.unit.operator.rows import job_tasks, row

H = TaskPhase.HELD


def test_counts_by_state() -> None:
    rows = [
        row(0),
        row(1, TaskPhase.RUNNING, start_time=at(5)),
        row(2, TaskPhase.LEASED),
        row(3, H, reason=HELD_BACKOFF, attempts=1),
        row(4, TaskPhase.PENDING, attempts=1),
        row(5, H, reason=HELD_SUSPENDED),
        row(6, H, reason=HELD_CANCEL_ACK, start_time=at(3)),
        row(7, TaskPhase.SUCCEEDED),
        row(12, TaskPhase.FAILED),
        row(9, TaskPhase.FAILED),
        row(10, TaskPhase.CANCELLED),
    ]
    t = tally(job_tasks(*rows), total=14, stopped=False, job="job")
    c = t.counts
    assert (c.total, c.pending, c.leased, c.retrying) == (14, 2 + 3, 3, 2)
    assert (c.succeeded, c.failed, c.cancelled) == (1, 2, 1)
    assert t.failed_tasks == ["job-9", "job-12"]
    assert t.first_start_time == at(3)
    assert t.terminating == 1


def test_uncreated_tasks_are_cancelled_once_the_job_stopped() -> None:
    t = tally(job_tasks(row(0, TaskPhase.CANCELLED)), total=5, stopped=True, job="job")
    assert (t.counts.pending, t.counts.cancelled) == (0, 5)


def test_finished_tasks_shrink_to_tallies_and_count_once() -> None:
    tasks = job_tasks(row(0, TaskPhase.RUNNING), row(1, TaskPhase.FAILED))
    tasks.put(row(0, TaskPhase.SUCCEEDED))
    tasks.put(row(0, TaskPhase.SUCCEEDED))  # a later version of a finished task
    assert list(tasks.live) == []
    c = tally(tasks, total=2, stopped=False, job="job").counts
    assert (c.succeeded, c.failed, c.leased, c.pending) == (1, 1, 0, 0)
    tasks.remove("job-1", 1)
    assert tally(tasks, total=2, stopped=False, job="job").counts.failed == 0
    assert (tasks.indexes, tasks.cursor) == ({0}, 0)


def test_failed_tasks_are_bounded() -> None:
    rows = [row(i, TaskPhase.FAILED) for i in range(30)]
    assert tally(job_tasks(*rows), total=30, stopped=False, job="job").failed_tasks == [
        f"job-{i}" for i in range(20)
    ]
