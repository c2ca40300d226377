"""Tasks of another owner: which names to delete per pass, which indexes wait."""

from taskmill.operator.ownership import deletion_preconditions, foreign_tasks

from taskmill.api import TaskPhase
from tests.unit.operator.builders import make_job
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


def test_a_task_read_back_is_deleted_only_on_that_version_and_never_when_it_is_the_jobs() -> None:
    job = make_job()
    job = job.model_copy(update={"metadata": job.metadata.model_copy(update={"uid": "new"})})
    owned_by = {"uid": "t1", "resourceVersion": "7"}
    earlier = {"metadata": {**owned_by, "ownerReferences": [{"uid": "old", "controller": True}]}}
    orphan = {"metadata": owned_by}
    own = {"metadata": {**owned_by, "ownerReferences": [{"uid": "new", "controller": True}]}}
    assert deletion_preconditions(job, earlier) == owned_by
    assert deletion_preconditions(job, orphan) == owned_by
    assert deletion_preconditions(job, own) is None
