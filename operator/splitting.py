"""Splitting a BatchJob into Tasks: pure functions over the job's spec.

A job's tasks are numbered 0..task_count-1 and each Task body is built on demand from
its index, so a job with 100,000 items never has its task bodies in memory at once.
Names are `<batchjob>-<index>`: a restarted operator recreates exactly the missing ones.
"""

import hashlib
import json
from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass
from typing import Any

from taskmill.api import BatchJob, BatchJobSpec, SplitRecord
from taskmill.api.common import ClaimMode
from taskmill.api.meta import API_VERSION, LABEL_BATCHJOB, LABEL_CAPABILITY
from taskmill.files.keys import item_path, item_source


def task_count(spec: BatchJobSpec) -> int:
    """How many Tasks the job splits into."""
    if spec.tasks is not None:
        return len(spec.tasks)
    return -(-_fan_out_size(spec) // spec.batch_size)


def _fan_out_size(spec: BatchJobSpec) -> int:
    if spec.items is not None:
        return len(spec.items)
    if spec.range is not None:
        r = spec.range
        return max(0, -(-(r.end - r.start) // r.step))
    return 0


# The spec fields the split reads: what a Task's name, params and capability come from.
SPLIT_FIELDS = frozenset({"tasks", "items", "range", "batch_size", "params", "capability"})


def split_fingerprint(spec: BatchJobSpec) -> str:
    """A digest of everything the split reads, stable across serializations."""
    fields = spec.model_dump(mode="json", by_alias=True, include=set(SPLIT_FIELDS))
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


REASON_SPLIT_CHANGED = "SplitChanged"


@dataclass(frozen=True)
class SplitJudgement:
    """Which split the job runs, and what to tell the user when the spec left it."""

    record: SplitRecord  # the split the job runs: recorded in status, or the spec's own
    changed: str  # a message when the spec's split differs from the record, else ""
    fails_job: bool  # the change leaves Tasks that can no longer be made


def judge_split(
    recorded: SplitRecord | None, fingerprint: str, total: int, created_below: int
) -> SplitJudgement:
    """The split is fixed when the job is first observed (DESIGN §2).

    Admission refuses edits to every split field it can see; it cannot see inside
    untyped `items`, so an edit there reaches the operator. Tasks already made keep
    their params, and the original total keeps counting: a shrunk list must never turn
    unfinished work into success. Tasks not made yet cannot be built from a spec that
    no longer holds their items, so such a job fails instead of running a mixture.
    `created_below` is the lowest index without a Task.
    """
    if recorded is None:
        return SplitJudgement(SplitRecord(fingerprint=fingerprint, total=total), "", False)
    if recorded.fingerprint == fingerprint:
        return SplitJudgement(recorded, "", False)
    kept = (
        f"the split fields (tasks, items, range, batchSize, params, capability) changed "
        f"after the job was created; this job keeps the split it started with "
        f"({recorded.total} tasks, {recorded.fingerprint[:19]}…)"
    )
    missing = recorded.total - min(created_below, recorded.total)
    if missing:
        return SplitJudgement(
            recorded,
            f"{kept}, but {missing} of its tasks were not created yet and cannot be made "
            f"from the changed spec, so the job fails; create a BatchJob under a new name "
            f"to run the new split",
            True,
        )
    return SplitJudgement(
        recorded, f"{kept}; create a BatchJob under a new name to run the new split", False
    )


def task_name(job_name: str, index: int) -> str:
    return f"{job_name}-{index}"


def task_params(spec: BatchJobSpec, index: int) -> dict[str, Any]:
    """The params of task `index`: the job's shared params, then the task's own on top."""
    if spec.tasks is not None:
        template = spec.tasks[index]
        return {**spec.params, **template.params, "name": template.name}
    lo, hi = index * spec.batch_size, (index + 1) * spec.batch_size
    if spec.items is not None:
        chunk: list[Any] = spec.items[lo:hi]
        key, keys = "item", "items"
    elif spec.range is not None:
        r = spec.range
        chunk = list(range(r.start + lo * r.step, min(r.end, r.start + hi * r.step), r.step))
        key, keys = "index", "indexes"
    else:
        raise ValueError("the job has none of tasks, items or range")
    if spec.batch_size == 1:
        return {**spec.params, key: chunk[0]}
    return {**spec.params, keys: chunk}


def task_capability(spec: BatchJobSpec, index: int) -> str:
    own = spec.tasks[index].capability if spec.tasks is not None else None
    return own or spec.capability


def task_priority(spec: BatchJobSpec, index: int) -> int:
    own = spec.tasks[index].priority if spec.tasks is not None else None
    return spec.priority if own is None else own


def task_files(spec: BatchJobSpec, index: int) -> dict[str, Any] | None:
    """The Task's files: the job's inputs, then the object each of its items names."""
    files = spec.files
    if files is None:
        return None
    inputs = [i.wire() for i in files.inputs]
    if files.item_input is not None and spec.items is not None:
        chunk = spec.items[index * spec.batch_size : (index + 1) * spec.batch_size]
        for position, item in enumerate(chunk):
            source = item_source(item, files.item_input)
            path = item_path(files.item_input, source, position)
            inputs.append({"source": source, "path": path, "shared": False})
    return {
        "store": files.store,
        "inputs": inputs,
        "outputs": [o.wire() for o in files.outputs],
    }


def build_task(job: BatchJob, index: int) -> dict[str, Any]:
    """The body of Task `index`, owned by the job so that deleting the job deletes it."""
    spec, meta = job.spec, job.metadata
    capability = task_capability(spec, index)
    task_spec: dict[str, Any] = {
        "batchJob": meta.name,
        "index": index,
        "capability": capability,
        "priority": task_priority(spec, index),
        "params": task_params(spec, index),
        "maxAttempts": spec.retry.max_attempts,
        "backoffSeconds": spec.retry.backoff_seconds,
        "leaseDurationSeconds": spec.lease.duration_seconds,
    }
    if spec.claim != ClaimMode.LEASE:
        task_spec["claim"] = str(spec.claim)
    if spec.timeout_seconds is not None:
        task_spec["timeoutSeconds"] = spec.timeout_seconds
    files = task_files(spec, index)
    if files is not None:
        task_spec["files"] = files
    return {
        "apiVersion": API_VERSION,
        "kind": "Task",
        "metadata": {
            "name": task_name(meta.name, index),
            "namespace": meta.namespace,
            "labels": {LABEL_BATCHJOB: meta.name, LABEL_CAPABILITY: capability},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "BatchJob",
                    "name": meta.name,
                    "uid": meta.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": task_spec,
    }


Made = Callable[[int], bool]  # whether an index has a Task, or is recorded as finished


def missing_indexes(
    made: Made, start: int, total: int, limit: int, occupied: Set[int] = frozenset()
) -> Iterator[int]:
    """Up to `limit` indexes from `start` on that were never made, lowest first.

    Creating the lowest missing indexes first keeps the split gap-free: after a crash
    mid-split the gaps are exactly what a restarted operator creates next. An index
    the job's status records as finished is made, whether its Task is still there or
    was deleted (operator.retention): it is never created again. `occupied` indexes
    have a Task of another owner under their name: they wait until it is gone.
    """
    found = 0
    for index in range(start, total):
        if found >= limit:
            return
        if not made(index) and index not in occupied:
            found += 1
            yield index
