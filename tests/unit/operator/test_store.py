"""The store: rows from Task bodies, newest version wins, dirty jobs, lease sightings."""

from typing import Any

from taskmill.operator.indexranges import IndexRanges
from taskmill.operator.observer import Sight
from taskmill.operator.store import JobTasks, Store

from tests.unit.operator.rows import row


def body(
    name: str, rv: str, phase: str = "Pending", holder: str = "", **status: Any
) -> dict[str, Any]:
    index = int(name.rsplit("-", 1)[1])
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "spec": {"batchJob": "job", "index": index, "capability": "cap"},
        "status": {
            "phase": phase,
            "lease": {"holder": holder, "epoch": 1 if holder else 0},
            **status,
        },
    }


def test_rows_follow_the_newest_version_and_mark_their_job() -> None:
    now = [10.0]
    store = Store(lambda: now[0])
    store.put_task(body("job-0", "5", "Running", "p", startTime="2026-01-01T00:00:00Z"))
    assert store.take_dirty() == {("ns", "job")}
    store.put_task(body("job-0", "4"))  # a late answer to an older write
    row = store.job_tasks(("ns", "job"), "").live["job-0"]
    assert (row.phase, row.holder, row.resource_version) == ("Running", "p", "5")
    assert store.leases.seen_at(("ns", "job-0")) == 10.0
    now[0] = 20.0
    store.put_task(body("job-0", "6", "Succeeded"))
    assert store.leases.seen_at(("ns", "job-0")) is None  # not held: nothing to expire
    tasks = store.job_tasks(("ns", "job"), "")
    assert (tasks.live, tasks.unrecorded) == ({}, {0: "Succeeded"})


def test_delete_frees_the_index_and_moves_the_cursor_back() -> None:
    store = Store(lambda: 0.0)
    for i in range(3):
        store.put_task(body(f"job-{i}", str(i + 1)))
    tasks = store.job_tasks(("ns", "job"), "")
    tasks.cursor = 3
    store.delete_task(body("job-1", "9"))
    assert (tasks.indexes, tasks.cursor) == ({0, 2}, 1)


def test_malformed_objects_are_skipped() -> None:
    store = Store(lambda: 0.0)
    store.put_task({"metadata": {"name": "x"}, "spec": {"index": "not a number"}})
    store.put_job({"metadata": {"name": "y", "namespace": "ns"}, "spec": {}})
    assert store.tasks == {}
    assert store.jobs == {}


def test_a_job_change_wakes_its_dependents() -> None:
    store = Store(lambda: 0.0)
    store.put_job(
        {
            "metadata": {"name": "down", "namespace": "ns", "resourceVersion": "1"},
            "spec": {"capability": "cap", "items": [1], "dependsOn": ["up"]},
        }
    )
    store.take_dirty()
    store.put_job(
        {
            "metadata": {"name": "up", "namespace": "ns", "resourceVersion": "2"},
            "spec": {"capability": "cap", "items": [1]},
        }
    )
    assert store.take_dirty() == {("ns", "up"), ("ns", "down")}


def owned(name: str, rv: str, owner: str, phase: str = "Pending") -> dict[str, Any]:
    task = body(name, rv, phase)
    task["metadata"]["uid"] = f"task-{name}-{rv}"
    if owner:
        task["metadata"]["ownerReferences"] = [
            {
                "apiVersion": "taskmill.io/v1alpha1",
                "kind": "BatchJob",
                "name": "job",
                "uid": owner,
                "controller": True,
            }
        ]
    return task


def test_tasks_count_only_for_the_job_whose_uid_owns_them() -> None:
    """An orphan (no owner) and a Task of an earlier job of the same name are kept apart
    from the job's own Tasks: never counted for it, listed as foreign."""
    store = Store(lambda: 0.0)
    store.put_task(owned("job-0", "1", "old", "Succeeded"))
    store.put_task(owned("job-1", "2", ""))
    store.put_task(owned("job-2", "3", "new"))
    mine = store.job_tasks(("ns", "job"), "new")
    assert (set(mine.live), mine.unrecorded) == ({"job-2"}, {})
    foreign = dict(store.foreign_tasks(("ns", "job"), "new"))
    assert {owner: t.indexes for owner, t in foreign.items()} == {"old": {0}, "": {1}}

    store.delete_task(owned("job-0", "4", "old"))  # deleted by name under its owner
    store.delete_task(
        {"metadata": {"namespace": "ns", "name": "job-1"}, "spec": {"batchJob": "job", "index": 1}}
    )  # a relist's tombstone
    assert store.foreign_tasks(("ns", "job"), "new") == []
    assert store.job_tasks(("ns", "job"), "new").indexes == {2}


def test_after_a_break_in_sight_jobs_with_held_leases_wake_with_a_fresh_window() -> None:
    now = [0.0]
    sight = Sight(tolerance=3.0, monotonic=lambda: now[0])
    sight.watch("tasks", True)
    sight.heard()
    store = Store(lambda: now[0], sight)
    sight.on_restored = store.mark_held
    store.put_task(body("held-0", "5", "Running", "p"))
    other = body("idle-0", "6")
    other["spec"]["batchJob"] = "idle"
    store.put_task(other)
    store.take_dirty()
    now[0] = 10.0  # nothing heard for 10 s: blind
    assert store.leases.seen_at(("ns", "held-0")) is None
    sight.heard()  # the API server answers again
    assert store.take_dirty() == {("ns", "job")}  # only the job with a held lease
    assert store.leases.seen_at(("ns", "held-0")) == 10.0


def test_first_unmade_steps_over_tasks_and_recorded_ranges() -> None:
    tasks = JobTasks()
    for index in (0, 1, 3, 6):
        tasks.put(row(index))
    assert (tasks.first_unmade(0, 10), tasks.first_unmade(4, 10), tasks.first_unmade(4, 4)) == (
        2,
        4,
        4,
    )
    tasks.adopt(IndexRanges.parse("2,4-5"), IndexRanges.parse("7-999999"))
    assert tasks.first_unmade(0, 2_000_000) == 1_000_000


def pending(name: str, rv: str, priority: int, nominee: str = "", job: str = "job") -> Any:
    task = body(name, rv)
    task["spec"] |= {"priority": priority, "batchJob": job}
    if nominee:
        task["metadata"]["labels"] = {"taskmill.io/nominee": nominee}
    return task


def test_the_pending_floor_follows_tasks_in_and_out_of_pending() -> None:
    store = Store(lambda: 0.0)
    store.put_task(pending("job-0", "1", 5))
    store.put_task(pending("job-1", "2", 2))
    assert store.floors.floor("ns", "cap") == 2
    store.put_task(body("job-1", "3", "Leased", "p"))  # claimed: no longer waits
    assert store.floors.floor("ns", "cap") == 5
    store.delete_task(pending("job-0", "4", 5))
    assert store.floors.floor("ns", "cap") == float("inf")
    store.put_task(pending("job-2", "5", 1))
    store.forget_job(("ns", "job"))
    assert store.floors.floor("ns", "cap") == float("inf")


def test_a_lower_floor_wakes_jobs_nominated_above_it() -> None:
    store = Store(lambda: 0.0)
    store.put_task(pending("urgent-0", "1", 5, nominee="a", job="urgent"))
    store.put_task(pending("plain-0", "2", 5, job="plain"))  # nobody's: nothing to take off
    store.take_dirty()
    store.put_task(pending("bulk-0", "3", 0, nominee="b", job="bulk"))
    assert store.take_dirty() == {("ns", "bulk"), ("ns", "urgent")}
    store.put_task(pending("bulk-1", "4", 0, nominee="b", job="bulk"))  # floor unchanged
    assert store.take_dirty() == {("ns", "bulk")}
