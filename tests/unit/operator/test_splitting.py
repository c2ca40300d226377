"""Splitting: counts, params, names and Task bodies from a BatchJob spec."""

from typing import Any

import pytest
from taskmill.operator.splitting import (
    build_task,
    judge_split,
    missing_indexes,
    split_fingerprint,
    task_count,
    task_params,
)

from taskmill.api import SplitRecord
from tests.unit.operator.builders import make_job


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        ({"items": [1, 2, 3]}, 3),
        ({"items": [1, 2, 3], "batchSize": 2}, 2),
        ({"range": {"start": 0, "end": 10}}, 10),
        ({"range": {"start": 0, "end": 10, "step": 3}}, 4),  # 0 3 6 9
        ({"range": {"start": 5, "end": 10, "step": 2}, "batchSize": 2}, 2),  # [5 7] [9]
        ({"tasks": [{"name": "a"}, {"name": "b"}]}, 2),
        ({"items": list(range(100_000)), "batchSize": 7}, 14_286),
    ],
)
def test_task_count(spec: dict[str, Any], count: int) -> None:
    assert task_count(make_job(**spec).spec) == count


@pytest.mark.parametrize(
    ("spec", "index", "params"),
    [
        ({"items": ["a", "b"], "params": {"k": 1}}, 1, {"k": 1, "item": "b"}),
        ({"items": ["a", "b", "c"], "batchSize": 2}, 1, {"items": ["c"]}),
        ({"range": {"start": 10, "end": 20, "step": 5}}, 1, {"index": 15}),
        ({"range": {"start": 0, "end": 7}, "batchSize": 3}, 2, {"indexes": [6]}),
        (
            {"tasks": [{"name": "a", "params": {"k": 2, "x": 1}}], "params": {"k": 1, "y": 0}},
            0,
            {"k": 2, "x": 1, "y": 0, "name": "a"},
        ),
    ],
)
def test_task_params_merge_shared_under_task_params(
    spec: dict[str, Any], index: int, params: dict[str, Any]
) -> None:
    assert task_params(make_job(**spec).spec, index) == params


def test_build_task_names_owns_labels_and_inherits_or_overrides() -> None:
    job = make_job(
        name="resize",
        priority=4,
        tasks=[{"name": "a"}, {"name": "b", "capability": "gpu", "priority": -1}],
        retry={"maxAttempts": 5, "backoffSeconds": 2},
        lease={"durationSeconds": 9},
        timeoutSeconds=60,
    )
    job = job.model_copy(update={"metadata": job.metadata.model_copy(update={"uid": "u-1"})})
    a, b = build_task(job, 0), build_task(job, 1)
    assert a["metadata"]["name"] == "resize-0"
    assert b["metadata"]["name"] == "resize-1"
    assert b["metadata"]["labels"] == {
        "taskmill.io/batchjob": "resize",
        "taskmill.io/capability": "gpu",
    }
    assert a["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "taskmill.io/v1alpha1",
            "kind": "BatchJob",
            "name": "resize",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert (a["spec"]["capability"], a["spec"]["priority"]) == ("cap", 4)
    assert (b["spec"]["capability"], b["spec"]["priority"]) == ("gpu", -1)
    assert a["spec"] | {"params": None} == {
        "batchJob": "resize",
        "index": 0,
        "capability": "cap",
        "priority": 4,
        "params": None,
        "maxAttempts": 5,
        "backoffSeconds": 2,
        "leaseDurationSeconds": 9,
        "timeoutSeconds": 60,
    }
    assert "status" not in a


def test_an_optimistic_job_makes_optimistic_tasks() -> None:
    """Lease-mode Tasks leave claim to the CRD default, so their bodies stay as they were."""
    job = make_job(claim="Optimistic", timeoutSeconds=5)
    assert build_task(job, 0)["spec"]["claim"] == "Optimistic"


def test_missing_indexes_fill_gaps_lowest_first_up_to_the_limit() -> None:
    made = {0, 1, 3, 6}.__contains__
    assert list(missing_indexes(made, 0, 10, 3)) == [2, 4, 5]
    assert list(missing_indexes(made, 0, 5, 10)) == [2, 4]
    assert list(missing_indexes(made, 0, 10, 0)) == []


def test_the_fingerprint_covers_the_split_fields_only() -> None:
    base = split_fingerprint(make_job(items=[1, 2, 3]).spec)
    assert base == split_fingerprint(make_job(items=[1, 2, 3], parallelism=2).spec)
    assert base.startswith("sha256:")
    for changed in (
        {"items": [1, 2]},
        {"items": [1, 2, 3], "batchSize": 2},
        {"items": [1, 2, 3], "params": {"k": 1}},
        {"items": [1, 2, 3], "capability": "other"},
        {"range": {"end": 3}},
    ):
        assert split_fingerprint(make_job(**changed).spec) != base, changed


RECORD = SplitRecord(fingerprint="sha256:old", total=8)


@pytest.mark.parametrize(
    ("recorded", "created_below", "total", "changed", "fails"),
    [
        (None, 0, 4, False, False),  # first observation: the spec's own split is recorded
        (RECORD.model_copy(update={"fingerprint": "sha256:new"}), 0, 8, False, False),
        (RECORD, 8, 8, True, False),  # shrunk after every Task existed: keeps counting 8
        (RECORD, 5, 8, True, True),  # 3 Tasks can no longer be made: the job fails
    ],
    ids=["first", "unchanged", "changed-all-created", "changed-some-missing"],
)
def test_judge_split_keeps_the_original_split(
    recorded: SplitRecord | None, created_below: int, total: int, changed: bool, fails: bool
) -> None:
    got = judge_split(recorded, "sha256:new", 4, created_below)
    assert got.record.total == total
    assert bool(got.changed) == changed
    assert got.fails_job == fails
    if changed:
        assert "create a BatchJob under a new name" in got.changed


def test_tasks_carry_the_jobs_inputs_their_items_objects_and_the_outputs() -> None:
    job = make_job(
        items=["in/a.png", "s3://other/b.png", "in/c.png"],
        batch_size=2,
        files={
            "store": "archive",
            "inputs": [{"source": "models/m.bin", "path": "model.bin"}],
            "itemInput": {"path": "img/{position}-{name}"},
            "outputs": [{"path": "out/*.png"}],
        },
    )
    first, last = build_task(job, 0)["spec"]["files"], build_task(job, 1)["spec"]["files"]
    assert first == {
        "store": "archive",
        "inputs": [
            {"source": "models/m.bin", "path": "model.bin"},
            # An item's own object: not for the provider's content cache.
            {"source": "in/a.png", "path": "img/0-a.png", "shared": False},
            {"source": "s3://other/b.png", "path": "img/1-b.png", "shared": False},
        ],
        "outputs": [
            {
                "path": "out/*.png",
                "key": "{namespace}/{job}/{index}/{attempt}/{path}",
                "optional": False,
            }
        ],
    }
    assert last["inputs"][1:] == [{"source": "in/c.png", "path": "img/0-c.png", "shared": False}]
    assert "files" not in build_task(make_job(items=[1]), 0)["spec"]
