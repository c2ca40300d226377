"""BatchJob: what a user submits. The operator splits it into Tasks."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from taskmill.api.common import (
    ApiModel,
    ClaimMode,
    Condition,
    JobPhase,
    NormalizedStatus,
    ObjectMeta,
)
from taskmill.api.files import FilesSpec
from taskmill.api.meta import (
    CAPABILITY_PATTERN,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    CrdInfo,
    PrinterColumn,
)

MAX_EXPLICIT_TASKS = 10_000
MAX_ITEMS = 100_000
MAX_RANGE_TASKS = 10_000_000
# spec.retention.succeededTasks Auto deletes the finished Tasks of jobs larger than this:
# a job of this size keeps every Task, as jobs always did, for a few MB of the API server.
AUTO_DELETE_ABOVE_TASKS = 1000
DEFAULT_KEEP_FAILED_TASKS = 100
# Each of status.succeededIndexes and failedIndexes stays below this, well inside the 1.5
# MiB an object may take in etcd; a job whose ranges would outgrow it keeps recording
# nothing more and keeps its later finished Tasks instead.
MAX_INDEX_RANGES_LENGTH = 256 * 1024
INDEX_RANGES_PATTERN = r"^([0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*)?$"

_PRESERVE: JsonDict = {"x-kubernetes-preserve-unknown-fields": True}
_TERMINAL = "['Succeeded', 'Failed', 'Cancelled']"
# What to do instead of editing what a job was created with (GitOps users meet this
# message when a changed manifest fails to sync).
NEW_NAME_HINT = "create a BatchJob under a new name to run a different one"


def _immutable(field: str, **extra: Any) -> JsonDict:
    rule = {"rule": "self == oldSelf", "message": f"spec.{field} cannot change once the job exists"}
    return {"x-kubernetes-validations": [rule], **extra}


def _fixed_split(field: str, **extra: Any) -> JsonDict:
    """A field the split into Tasks reads: Tasks already made from it cannot follow a change."""
    rule = {
        "rule": "self == oldSelf",
        "message": f"spec.{field} is part of the split into Tasks, fixed once the job exists: "
        + NEW_NAME_HINT,
    }
    return {"x-kubernetes-validations": [rule], **extra}


class TaskTemplate(ApiModel):
    """One explicitly listed task."""

    name: str = Field(
        description="Name of the task, unique within the job; passed to the provider as "
        "params.name. The Task object itself is named <batchjob>-<index>.",
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters of this task, merged over the job's shared params.",
        json_schema_extra=_PRESERVE,
    )
    capability: str | None = Field(
        default=None,
        description="Capability class for this task; defaults to the job's capability.",
        max_length=63,
        pattern=CAPABILITY_PATTERN,
    )
    priority: int | None = Field(
        default=None,
        ge=-1_000_000,
        le=1_000_000,
        description="Priority of this task within its capability class; defaults to the job's.",
    )


class RangeSpec(ApiModel):
    """A numeric fan-out: one task per index in [start, end) stepping by step."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.end > self.start",
                    "message": "range.end must be greater than range.start",
                },
                {
                    # step < 1 is refused by its minimum; CEL still runs, so no division by 0.
                    "rule": "self.step < 1 "
                    f"|| (self.end - self.start) / self.step <= {MAX_RANGE_TASKS}",
                    "message": f"range may produce at most {MAX_RANGE_TASKS} indexes",
                },
            ]
        }
    )

    start: int = Field(default=0, description="First index (inclusive).")
    end: int = Field(description="End of the range (exclusive).")
    step: int = Field(default=1, ge=1, description="Distance between consecutive indexes.")


class LeasePolicy(ApiModel):
    """How long a provider may hold a task between heartbeats."""

    duration_seconds: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="Longest lease a provider may take on these tasks. A provider that "
        "does not renew within this time (plus a grace) loses the task, which is "
        "reassigned.",
    )


class RetryPolicy(ApiModel):
    """How often a task is attempted before it fails."""

    max_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Attempts per task, counting failures, expired leases and timeouts. "
        "When they are used up the task fails.",
    )
    backoff_seconds: int = Field(
        default=10,
        ge=0,
        le=86_400,
        description="Delay before a failed or expired task may be leased again.",
    )


class Deadlines(ApiModel):
    """Time limits for the job as a whole, measured from its creation."""

    start_within_seconds: int | None = Field(
        default=None,
        ge=1,
        description="If no task has started by then, the job is LateToStart.",
    )
    expected_duration_seconds: int | None = Field(
        default=None,
        ge=1,
        description="If the job is still running after this, it is RunningLate.",
    )
    active_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Hard limit: running tasks are terminated and the job fails.",
    )


class TaskRetention(StrEnum):
    """Whether a job's finished Tasks stay as objects once status records them."""

    AUTO = "Auto"  # Delete for jobs of more than AUTO_DELETE_ABOVE_TASKS tasks, else Keep
    KEEP = "Keep"
    DELETE = "Delete"


class RetentionPolicy(ApiModel):
    """Which finished Tasks stay as objects. Whatever is deleted stays counted: status
    records every finished index (succeededIndexes, failedIndexes) before any Task goes."""

    succeeded_tasks: TaskRetention = Field(
        default=TaskRetention.AUTO,
        description="Keep: every Task stays until the job is deleted. Delete: a succeeded "
        "Task is deleted once status.succeededIndexes records it, and failed Tasks beyond "
        f"keepFailedTasks once status.failedIndexes does. Auto: Delete for jobs of more "
        f"than {AUTO_DELETE_ABOVE_TASKS} tasks, Keep otherwise.",
    )
    keep_failed_tasks: int = Field(
        default=DEFAULT_KEEP_FAILED_TASKS,
        ge=0,
        le=10_000,
        description="When Tasks are deleted: how many failed Tasks stay for inspection "
        "(those with the lowest indexes).",
    )


class BatchJobSpec(ApiModel):
    """What to run, how to split it, and the policies that govern it."""

    model_config = ConfigDict(
        json_schema_extra={
            # Exactly one of tasks, items or range. Not a CEL rule: CEL cannot see
            # `items`, whose elements are untyped (any JSON).
            "oneOf": [{"required": ["tasks"]}, {"required": ["items"]}, {"required": ["range"]}],
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.tasks) || !has(self.batchSize) || self.batchSize == 1",
                    "message": "spec.batchSize applies to items and range only",
                    "fieldPath": ".batchSize",
                },
                {
                    "rule": "!has(oldSelf.cancel) || !oldSelf.cancel || self.cancel",
                    "message": "spec.cancel cannot be undone",
                    "fieldPath": ".cancel",
                },
                # A field's own `self == oldSelf` does not run when the field is added
                # or removed, so presence is fixed here. With exactly one of the three
                # set, fixing tasks and range fixes items too.
                {
                    "rule": "has(self.tasks) == has(oldSelf.tasks)"
                    " && has(self.range) == has(oldSelf.range)",
                    "message": "spec.tasks, spec.items or spec.range cannot be switched: "
                    + NEW_NAME_HINT,
                },
                {
                    "rule": "has(self.params) == has(oldSelf.params)",
                    "message": "spec.params cannot be added or removed: " + NEW_NAME_HINT,
                    "fieldPath": ".params",
                },
                {
                    "rule": "has(self.files) == has(oldSelf.files)",
                    "message": "spec.files cannot be added or removed: " + NEW_NAME_HINT,
                    "fieldPath": ".files",
                },
                {
                    # Not has(self.items): CEL cannot see the untyped items; with exactly
                    # one of the three set, neither tasks nor range means items.
                    "rule": "!has(self.files) || !has(self.files.itemInput)"
                    " || (!has(self.tasks) && !has(self.range))",
                    "message": "spec.files.itemInput applies to spec.items only",
                    "fieldPath": ".files.itemInput",
                },
                {
                    # Two items of one Task must not land on one path.
                    "rule": "!has(self.files) || !has(self.files.itemInput)"
                    " || !has(self.batchSize) || self.batchSize == 1"
                    " || self.files.itemInput.path.contains('{position}')",
                    "message": "spec.files.itemInput.path must contain {position} when "
                    "batchSize > 1 (two items of one task could name objects of one base name)",
                    "fieldPath": ".files.itemInput.path",
                },
                {
                    "rule": "has(self.timeoutSeconds) == has(oldSelf.timeoutSeconds)",
                    "message": "spec.timeoutSeconds cannot be added or removed",
                    "fieldPath": ".timeoutSeconds",
                },
                {
                    # A task run before it is claimed is invisible to the operator, so
                    # the provider bounds it itself, by the timeout; within one lease,
                    # so it is short enough to need no heartbeat in the Lease mode either.
                    "rule": "self.claim != 'Optimistic' || (has(self.timeoutSeconds)"
                    " && self.timeoutSeconds <= self.lease.durationSeconds)",
                    "message": "spec.claim Optimistic needs spec.timeoutSeconds, at most "
                    "spec.lease.durationSeconds: a task run before it is claimed must be short",
                    "fieldPath": ".claim",
                },
                {
                    # Two providers may run the same task at once; both would write the
                    # same output objects, and the loser's could replace the winner's.
                    "rule": "self.claim != 'Optimistic' || !has(self.files)"
                    " || !has(self.files.outputs) || size(self.files.outputs) == 0",
                    "message": "spec.claim Optimistic cannot collect spec.files.outputs: two "
                    "providers running one task would write the same objects",
                    "fieldPath": ".claim",
                },
            ],
        }
    )

    capability: str = Field(
        description="Class of provider that can run the tasks, e.g. image.resize. "
        "Lowercase letters, digits, '.' and '-', at most 63 characters.",
        min_length=1,
        max_length=63,
        pattern=CAPABILITY_PATTERN,
        json_schema_extra=_fixed_split("capability"),
    )
    priority: int = Field(
        default=0,
        ge=-1_000_000,
        le=1_000_000,
        description="Higher runs first within the capability class.",
        json_schema_extra=_immutable("priority"),
    )
    tasks: list[TaskTemplate] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EXPLICIT_TASKS,
        description="Explicit tasks. Exactly one of tasks, items or range is set.",
        json_schema_extra=_fixed_split(
            "tasks", **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
        ),
    )
    items: list[Any] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ITEMS,
        description="Fan-out over arbitrary JSON values: each task's params get `item` "
        "(or `items` when batchSize > 1). Fixed once the job exists: admission cannot see "
        "inside untyped items, so the operator keeps the split it started with and reports "
        "an edit in the SplitChanged condition.",
    )
    range: RangeSpec | None = Field(
        default=None,
        description="Fan-out over integers: each task's params get `index` "
        "(or `indexes` when batchSize > 1).",
        json_schema_extra=_fixed_split("range"),
    )
    batch_size: int = Field(
        default=1,
        ge=1,
        le=10_000,
        description="Items or indexes per Task; chunking keeps object counts sane.",
        json_schema_extra=_fixed_split("batchSize"),
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Shared parameters merged into every task's params.",
        json_schema_extra=_fixed_split("params", **_PRESERVE),
    )
    parallelism: int | None = Field(
        default=None,
        ge=1,
        description="Most tasks of this job leased at once; unset means no limit.",
    )
    depends_on: list[str] | None = Field(
        default=None,
        max_length=32,
        description="BatchJobs in the same namespace that must succeed first. Fixed once "
        "they have (status.dependenciesMetTime is set).",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "items": {"maxLength": 253, "pattern": DNS_SUBDOMAIN_PATTERN},
        },
    )
    lease: LeasePolicy = Field(
        default_factory=LeasePolicy,
        description="Lease policy for this job's tasks.",
        json_schema_extra=_immutable("lease", default={}),
    )
    claim: ClaimMode = Field(
        default=ClaimMode.LEASE,
        description="Lease: a provider claims a task before it runs it (create, claim, "
        "report: 3 writes). Optimistic: it runs the task first and claims it together "
        "with the result in one compare-and-swap (2 writes); when two providers race, "
        "one result is accepted and the other run is wasted. Only for short, idempotent "
        "tasks without progress reports (docs/architecture.md, Optimistic claims).",
        json_schema_extra=_immutable("claim", default=ClaimMode.LEASE.value),
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy,
        description="Retry policy: attempts count failures AND expired leases.",
        json_schema_extra=_immutable("retry", default={}),
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Per-task run limit. An overrunning task is terminated, then retried "
        "or failed.",
        json_schema_extra=_immutable("timeoutSeconds"),
    )
    deadlines: Deadlines = Field(
        default_factory=Deadlines,
        description="Job-level start, duration and hard deadlines.",
        json_schema_extra={"default": {}},
    )
    files: FilesSpec | None = Field(
        default=None,
        description="Files staged in from an object store before each task and collected "
        "out after it succeeds (see docs/files.md).",
        json_schema_extra=_fixed_split("files"),
    )
    retention: RetentionPolicy = Field(
        default_factory=RetentionPolicy,
        description="Which finished Tasks stay as objects (docs/architecture.md, Retention).",
        json_schema_extra={"default": {}},
    )
    suspend: bool = Field(
        default=False,
        description="Hold the job: nothing new is leased; leased tasks run to completion.",
    )
    cancel: bool = Field(
        default=False,
        description="Terminate running tasks and cancel the rest. Final: cannot be undone.",
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        description="Delete the job and its Tasks this long after it finished (later while a "
        "job that depends on it has not yet taken in its outcome).",
    )


class TaskCounts(ApiModel):
    """How many of the job's tasks are in each state."""

    total: int = Field(default=0, ge=0, description="Tasks the job splits into.")
    pending: int = Field(default=0, ge=0, description="Not yet leased (including not created).")
    leased: int = Field(default=0, ge=0, description="Leased or running now.")
    succeeded: int = Field(default=0, ge=0, description="Finished successfully.")
    failed: int = Field(default=0, ge=0, description="Failed with all attempts used.")
    cancelled: int = Field(default=0, ge=0, description="Cancelled.")
    retrying: int = Field(
        default=0, ge=0, description="Waiting to be attempted again after a failure or expiry."
    )


class SplitRecord(ApiModel):
    """The split into Tasks the operator started with, kept whatever the spec says later."""

    fingerprint: str = Field(
        max_length=80,
        description="sha256 of the fields the split reads (tasks, items, range, batchSize, "
        "params, capability) when the job was first observed.",
    )
    total: int = Field(ge=0, description="Tasks that split makes.")


class BatchJobStatus(ApiModel):
    """Observed state of a BatchJob, written only by the operator."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"!(oldSelf.phase in {_TERMINAL}) || self.phase == oldSelf.phase",
                    "message": "status.phase is terminal and cannot change",
                },
            ]
        }
    )

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this status was computed for."
    )
    phase: JobPhase = Field(default=JobPhase.PENDING, description="Raw lifecycle phase.")
    normalized_status: NormalizedStatus = Field(
        # Waiting, not Unknown: a job the operator has not observed yet waits to run.
        default=NormalizedStatus.WAITING,
        description="The one normalized status shown by kubectl get, events, metrics and tools.",
    )
    start_time: datetime | None = Field(default=None, description="When the first task started.")
    completion_time: datetime | None = Field(default=None, description="When the job finished.")
    progress: str = Field(
        default="", max_length=64, description="Succeeded/total, as shown by kubectl get."
    )
    counts: TaskCounts = Field(
        default_factory=TaskCounts,
        description="Task counts by state.",
        json_schema_extra={"default": {}},
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=32,
        description="Conditions: Accepted, Reconciling, Ready, Stalled, Complete, Failed, "
        "Suspended, Cancelled, LateToStart, RunningLate, ProvidersAvailable.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    failed_tasks: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Names of up to 20 failed Tasks; details live on the Tasks.",
        json_schema_extra={"items": {"maxLength": 253}},
    )
    succeeded_indexes: str = Field(
        default="",
        max_length=MAX_INDEX_RANGES_LENGTH,
        pattern=INDEX_RANGES_PATTERN,
        description="Indexes of the succeeded tasks as ranges, e.g. 0-99,102 (like an "
        "Indexed Job's completedIndexes). Recorded before a Task is deleted: an index "
        "here is never run again.",
    )
    failed_indexes: str = Field(
        default="",
        max_length=MAX_INDEX_RANGES_LENGTH,
        pattern=INDEX_RANGES_PATTERN,
        description="Indexes of the tasks that failed with all attempts used, as ranges.",
    )
    split: SplitRecord | None = Field(
        default=None,
        description="The split the operator started with; recorded before the first Task is "
        "created and never changed.",
    )
    dependencies_met_time: datetime | None = Field(
        default=None,
        description="When every predecessor in spec.dependsOn had succeeded (when the job was "
        "first observed, if it has none). From then on the job stays eligible, even if a "
        "predecessor is deleted, and spec.dependsOn cannot change.",
    )


class BatchJob(ApiModel):
    """A batch of work split into Tasks and run by providers of one capability."""

    api_version: Literal["taskmill.io/v1alpha1"] = "taskmill.io/v1alpha1"
    kind: Literal["BatchJob"] = "BatchJob"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: BatchJobSpec
    # observedGeneration 0 until the operator first writes status: kstatus (Flux) then
    # reads a brand-new job as InProgress instead of Current.
    status: BatchJobStatus = Field(
        default_factory=BatchJobStatus, json_schema_extra={"default": {"observedGeneration": 0}}
    )


BATCHJOB_CRD = CrdInfo(
    kind="BatchJob",
    plural="batchjobs",
    singular="batchjob",
    short_names=("bj",),
    printer_columns=(
        PrinterColumn("Status", ".status.normalizedStatus", description="Normalized status"),
        PrinterColumn("Progress", ".status.progress", description="Succeeded/total tasks"),
        PrinterColumn("Capability", ".spec.capability"),
        PrinterColumn("Priority", ".spec.priority", type="integer", priority=1),
        PrinterColumn("Phase", ".status.phase", priority=1),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
    ),
    # `kubectl get bj --field-selector status.normalizedStatus=Failure`, server-side.
    selectable_fields=(".status.normalizedStatus", ".status.phase", ".spec.capability"),
    root_validations=(
        {
            # Once the predecessors were met, the operator no longer reads dependsOn (the
            # latch); an edit would be silently ignored, so it is refused instead.
            "rule": "!has(oldSelf.status) || !has(oldSelf.status.dependenciesMetTime)"
            " || (has(self.spec.dependsOn) == has(oldSelf.spec.dependsOn)"
            " && (!has(self.spec.dependsOn) || self.spec.dependsOn == oldSelf.spec.dependsOn))",
            "message": "spec.dependsOn cannot change once the predecessors have succeeded "
            "(status.dependenciesMetTime is set)",
            "fieldPath": ".spec.dependsOn",
        },
        {
            "rule": "!has(self.spec.dependsOn) || !(self.metadata.name in self.spec.dependsOn)",
            "message": "spec.dependsOn must not name the job itself",
            "fieldPath": ".spec.dependsOn",
        },
        {
            # Every Task carries the job's name as a label value.
            "rule": "self.metadata.name.size() <= 63",
            "message": "metadata.name of a BatchJob must be at most 63 characters",
        },
    ),
)
