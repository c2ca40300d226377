"""Semantic checks the schema cannot make: each problem names the field to change."""

from typing import Any

import pytest
from taskmill.operator.splitting import task_params
from taskmill.operator.validation import (
    DEFAULT_MAX_TASK_PARAMS_BYTES,
    json_size,
    task_params_sizes,
    validate,
)

from taskmill.api import BatchJob, BatchJobSpec, ObjectMeta

from .builders import make_job

KIB = 1024
BIG = "x" * (100 * KIB)


@pytest.mark.parametrize(
    ("job", "reason", "names"),
    [
        (make_job(items=[1, 2]), None, ""),
        (make_job(name="n" * 64), "NameTooLong", "metadata.name is 64 characters"),
        (make_job(name="n" * 63), None, ""),
        (make_job(params={"item": 1}), "ReservedParam", "spec.params.item"),
        (make_job(range={"end": 5}, params={"index": 1}), "ReservedParam", "spec.params.index"),
        (
            make_job(tasks=[{"name": "a"}, {"name": "b", "params": {"name": "x", "items": []}}]),
            "ReservedParam",
            "spec.tasks[1].params.items, spec.tasks[1].params.name",
        ),
        (make_job(items=list(range(11))), "TooManyTasks", "spec.items with spec.batchSize 1"),
        (make_job(items=list(range(11)), batch_size=2), None, ""),
        (make_job(range={"start": 0, "end": 100, "step": 9}), "TooManyTasks", "makes 12 tasks"),
        (make_job(range={"start": 0, "end": 100, "step": 10}), None, ""),
        (make_job(tasks=[{"name": f"t{i}"} for i in range(11)]), "TooManyTasks", "spec.tasks"),
        (make_job(params={"p": BIG * 3}), "ParamsTooLarge", "spec.params ("),
        (make_job(items=[1, BIG * 3, 2]), "ParamsTooLarge", "spec.items[1] ("),
        # each part fits; merged they do not
        (make_job(params={"p": BIG * 2}, items=[1, BIG]), "ParamsTooLarge", "spec.items[1] ("),
        (make_job(items=[BIG] * 6, batch_size=3), "ParamsTooLarge", "spec.items[3:6] ("),
        (make_job(items=[BIG] * 5, batch_size=3), "ParamsTooLarge", "spec.items[0:3] ("),
        (make_job(items=[BIG] * 5, batch_size=2), None, ""),
        (
            make_job(tasks=[{"name": "a"}, {"name": "b", "params": {"p": BIG * 3}}]),
            "ParamsTooLarge",
            "spec.tasks[1].params (",
        ),
        (make_job(items=["a.png", "b.png"], files={"itemInput": {}}), None, ""),
        (
            make_job(items=["a.png", {"img": "b.png"}], files={"itemInput": {}}),
            "InvalidItemInput",
            "spec.items[1] (the item is not a string",
        ),
        (
            make_job(items=[{"img": "a"}, {"x": 1}], files={"itemInput": {"field": "img"}}),
            "InvalidItemInput",
            "spec.items[1] (the item has no string field 'img'",
        ),
        (
            make_job(range={"end": 10}, batch_size=10, params={"p": "x" * (256 * KIB - 20)}),
            "ParamsTooLarge",
            "spec.range (task 0)",
        ),
    ],
)
def test_problems_name_the_field(job: BatchJob, reason: str | None, names: str) -> None:
    problems = validate(job, max_tasks=10)
    assert [r for r, _ in problems] == ([reason] if reason else [])
    if reason:
        assert names in problems[0][1]


def test_a_job_with_no_source_of_tasks_is_rejected() -> None:
    job = BatchJob(metadata=ObjectMeta(name="j"), spec=BatchJobSpec(capability="cap"))
    assert [r for r, _ in validate(job)] == ["NoTasks"]


def test_independent_problems_are_all_reported() -> None:
    job = make_job(name="n" * 70, params={"name": 1}, items=list(range(20)))
    assert [r for r, _ in validate(job, max_tasks=10)] == [
        "NameTooLong",
        "ReservedParam",
        "TooManyTasks",
    ]


def test_a_long_list_of_fields_is_shortened() -> None:
    job = make_job(items=[BIG * 3] * 9)
    (problem,) = validate(job)
    assert problem[1].count("spec.items[") == 5
    assert "and 4 more" in problem[1]


@pytest.mark.parametrize(
    "spec",
    [
        {"items": [1, "two", {"three": [3]}, None, "é" * 10], "params": {"a": 1}},
        {"items": [1, "two", {"three": [3]}, None, "é"], "batch_size": 2},
        {"items": [[1, 2], "x"], "batch_size": 5, "params": {"a": {"b": "c"}}},
        {"tasks": [{"name": "a", "params": {"q": 1}}, {"name": "b"}], "params": {"a": 1}},
        {"range": {"start": -1000, "end": 1000, "step": 7}, "batch_size": 9, "params": {"z": 0}},
        {"range": {"start": 0, "end": 5}},
    ],
)
def test_estimated_sizes_never_undercount_and_are_close(spec: dict[str, Any]) -> None:
    job_spec = make_job(**spec).spec
    shared = json_size(job_spec.params)
    estimates = dict(task_params_sizes(job_spec, shared))
    exact = [json_size(task_params(job_spec, i)) for i in range(len(estimates))]
    if job_spec.range is None:
        for estimate, actual in zip(estimates.values(), exact, strict=True):
            assert actual <= estimate <= actual + 16
    else:
        assert max(estimates.values()) == max(exact)


def test_the_default_limit_is_256_kib() -> None:
    assert DEFAULT_MAX_TASK_PARAMS_BYTES == 256 * KIB
