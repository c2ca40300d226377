"""Tasks of another owner: which names to delete per pass, which indexes wait."""

from taskmill.operator.ownership import foreign_tasks

from taskmill.api import TaskPhase
from tests.unit.operator.rows import job_tasks, row


def test_no_foreign_tasks_no_message() -> None:
    got = foreign_tasks("job", [], limit=10)
    assert (got.names, got.occupied, got.message) == ([], frozenset(), "")


def test_foreign_tasks_block_their_indexes_and_are_deleted_a_bounded_number_per_pass() -> None:
    old = job_tasks(row(0, TaskPhase.SUCCEEDED), row(3, TaskPhase.RUNNING))
    orphans = job_tasks(row(1))
    got = foreign_tasks("job", [("old", old), ("", orphans)], limit=2)
    assert got.occupied == {0, 1, 3}
    assert got.names == ["job-0", "job-3"]
    assert got.count == 3
    assert "3 Tasks named for this job belong to an earlier BatchJob" in got.message
