"""Checks on a BatchJob that the schema and its CEL rules cannot make.

Each problem is a `(reason, message)` pair whose message names the field, so a
rejected job's Accepted=False condition and Event tell the user what to change.
The checks only read the spec: sizes are summed from the parts a Task's params are
merged from, never by building every Task, so a 100,000-item job is checked in one
pass over its items.
"""

import json
from collections.abc import Iterator
from typing import Any

from taskmill.operator.splitting import task_count, task_params

from taskmill.api import BatchJob, BatchJobSpec
from taskmill.files.keys import SourceError, item_source

Problem = tuple[str, str]

DEFAULT_MAX_TASKS = 100_000
# Far below etcd's 1.5 MiB object limit, leaving room for the Task's status and for
# providers that hand params to a command line or an environment variable.
DEFAULT_MAX_TASK_PARAMS_BYTES = 256 * 1024
# Keys the split adds to a task's params (the task's name, its item(s) or index(es)).
RESERVED_PARAMS = ("item", "items", "index", "indexes", "name")
# The job's name is the value of the taskmill.io/batchjob label on its Tasks.
MAX_LABEL_VALUE = 63
MAX_NAMED = 5  # fields named in one message

REASON_NAME_TOO_LONG = "NameTooLong"
REASON_NO_TASKS = "NoTasks"
REASON_RESERVED_PARAM = "ReservedParam"
REASON_TOO_MANY_TASKS = "TooManyTasks"
REASON_PARAMS_TOO_LARGE = "ParamsTooLarge"
REASON_ITEM_INPUT = "InvalidItemInput"


def validate(
    job: BatchJob,
    max_tasks: int = DEFAULT_MAX_TASKS,
    max_task_params_bytes: int = DEFAULT_MAX_TASK_PARAMS_BYTES,
) -> list[Problem]:
    """Everything wrong with the job; empty when the operator can run it."""
    spec = job.spec
    if spec.tasks is None and spec.items is None and spec.range is None:
        return [(REASON_NO_TASKS, "spec: exactly one of tasks, items or range must be set")]
    return [
        *_name(job.metadata.name),
        *_reserved_params(spec),
        *_task_count(spec, max_tasks),
        *_params_size(spec, max_task_params_bytes),
        *_item_inputs(spec),
    ]


def _name(name: str) -> list[Problem]:
    if len(name) <= MAX_LABEL_VALUE:
        return []
    return [
        (
            REASON_NAME_TOO_LONG,
            f"metadata.name is {len(name)} characters; at most {MAX_LABEL_VALUE}, because it "
            "labels the job's Tasks",
        )
    ]


def _reserved_params(spec: BatchJobSpec) -> list[Problem]:
    sources = [("spec.params", spec.params)]
    sources += [(f"spec.tasks[{i}].params", t.params) for i, t in enumerate(spec.tasks or ())]
    clashes = [
        f"{field}.{key}" for field, params in sources for key in RESERVED_PARAMS if key in params
    ]
    if not clashes:
        return []
    return [
        (
            REASON_RESERVED_PARAM,
            f"{_some(clashes)}: the keys {', '.join(RESERVED_PARAMS)} are reserved for what "
            "the operator adds to each task's params",
        )
    ]


def _task_count(spec: BatchJobSpec, max_tasks: int) -> list[Problem]:
    count = task_count(spec)
    if count <= max_tasks:
        return []
    if spec.tasks is not None:
        source = "spec.tasks"
    else:
        source = "spec.items" if spec.items is not None else "spec.range"
    batching = "" if spec.tasks is not None else f" with spec.batchSize {spec.batch_size}"
    return [
        (
            REASON_TOO_MANY_TASKS,
            f"{source}{batching} makes {count} tasks; this operator allows at most {max_tasks} "
            "per job (raise spec.batchSize or split the job)",
        )
    ]


def _params_size(spec: BatchJobSpec, limit: int) -> list[Problem]:
    shared = json_size(spec.params)
    if shared > limit:
        oversized = [("spec.params", shared)]
    else:
        oversized = [
            (field, size) for field, size in task_params_sizes(spec, shared) if size > limit
        ]
    if not oversized:
        return []
    named = _some([f"{field} ({size} bytes)" for field, size in oversized])
    return [
        (
            REASON_PARAMS_TOO_LARGE,
            f"params of {named} exceed {limit} bytes per Task once merged with spec.params",
        )
    ]


def task_params_sizes(spec: BatchJobSpec, shared: int) -> Iterator[tuple[str, int]]:
    """(field, size) of each task's merged params: within a few bytes, never below."""
    if spec.tasks is not None:
        for i, t in enumerate(spec.tasks):
            yield (
                f"spec.tasks[{i}].params",
                shared + json_size(t.params) + json_size({"name": t.name}),
            )
    elif spec.items is not None:
        sizes = [json_size(item) for item in spec.items]
        batch = spec.batch_size
        for lo in range(0, len(sizes), batch):
            chunk = sizes[lo : lo + batch]
            field = f"spec.items[{lo}]" if batch == 1 else f"spec.items[{lo}:{lo + len(chunk)}]"
            # key, brackets and commas of the chunk
            yield field, shared + len('"items":[]') + sum(chunk) + len(chunk)
    else:
        # Indexes grow in size towards the ends of the range, so the largest params are
        # those of the first task or of the last full one; build only those.
        last = task_count(spec) - 1
        for index in sorted({0, max(0, last - 1), last}):
            yield f"spec.range (task {index})", json_size(task_params(spec, index))


def _item_inputs(spec: BatchJobSpec) -> list[Problem]:
    """Every item must name an object when spec.files.itemInput is set (admission cannot
    see inside untyped items)."""
    item_input = spec.files.item_input if spec.files is not None else None
    if item_input is None or spec.items is None:
        return []
    bad: list[str] = []
    for i, item in enumerate(spec.items):
        try:
            item_source(item, item_input)
        except SourceError as e:
            bad.append(f"spec.items[{i}] ({e})")
    if not bad:
        return []
    return [(REASON_ITEM_INPUT, f"{_some(bad)}: spec.files.itemInput needs an object per item")]


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_size(value: Any) -> int:
    """Bytes of `value` as compact JSON, as the API server stores it."""
    return len(_encode(value).encode())


def _some(names: list[str]) -> str:
    """The first few names, and how many more there are."""
    shown = ", ".join(names[:MAX_NAMED])
    more = len(names) - MAX_NAMED
    return f"{shown} and {more} more" if more > 0 else shown
