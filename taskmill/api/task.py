"""Task: one unit of work, created by the operator and leased by a provider.

The lease lives in status so that providers write only the status subresource.
CEL transition rules make the API server itself refuse a steal, an epoch going
backwards, or a terminal phase being left; every write by a lease holder is fenced
by JSON Patch `test` ops on holder and epoch (see taskmill.api.protocol).
"""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from taskmill.api.common import ApiModel, ClaimMode, NormalizedStatus, ObjectMeta, TaskPhase
from taskmill.api.files import FileManifest, FileRecord, TaskFiles
from taskmill.api.meta import (
    CAPABILITY_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    MAX_HISTORY,
    MAX_RESULT_OUTPUT,
    CrdInfo,
    PrinterColumn,
)

_IMMUTABLE: JsonDict = {
    "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "is immutable"}]
}
_TERMINAL = "['Succeeded', 'Failed', 'Cancelled']"


class TaskSpec(ApiModel):
    """What to run. Written by the operator only."""

    batch_job: str = Field(
        description="Name of the owning BatchJob.",
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        json_schema_extra=_IMMUTABLE,
    )
    index: int = Field(
        ge=0, description="Position of the task in its job.", json_schema_extra=_IMMUTABLE
    )
    capability: str = Field(
        description="Capability class a provider must serve to lease this task.",
        min_length=1,
        max_length=63,
        pattern=CAPABILITY_PATTERN,
        json_schema_extra=_IMMUTABLE,
    )
    priority: int = Field(default=0, description="Higher runs first within the capability class.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters handed to the provider (JSON on stdin for command providers).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True, **_IMMUTABLE},
    )
    max_attempts: int = Field(
        default=3, ge=1, le=100, description="Attempts before the task fails."
    )
    backoff_seconds: int = Field(
        default=10, ge=0, le=86_400, description="Delay before a failed attempt is retried."
    )
    lease_duration_seconds: int = Field(
        default=30, ge=5, le=3600, description="Longest lease a provider may take."
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, description="Run limit per attempt; overrun is terminated."
    )
    files: TaskFiles | None = Field(
        default=None,
        description="Objects staged in before the work and files collected out after it.",
        json_schema_extra=_IMMUTABLE,
    )
    claim: ClaimMode = Field(
        default=ClaimMode.LEASE,
        description="Lease: claimed before it runs. Optimistic: run first, then claimed "
        "together with its result in one compare-and-swap (the job's spec.claim).",
        json_schema_extra=_IMMUTABLE,
    )
    cancel: bool = Field(
        default=False,
        description="Set by the operator to make the holder terminate the work.",
    )
    cancel_reason: str = Field(
        default="",
        max_length=64,
        description="Why cancel was set: Timeout, JobCancelled, JobFailed or DeadlineExceeded.",
    )


class TaskLease(ApiModel):
    """Who holds the task. Changed only through an empty holder, with epoch + 1."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.epoch >= oldSelf.epoch",
                    "message": "status.lease.epoch must never decrease",
                },
                {
                    "rule": "oldSelf.holder == '' || self.holder == '' "
                    "|| self.holder == oldSelf.holder",
                    "message": 'status.lease.holder may change only through "" '
                    "(a lease cannot be stolen)",
                },
                {
                    "rule": "self.holder == oldSelf.holder || self.epoch == oldSelf.epoch + 1",
                    "message": "status.lease.holder may change only with epoch + 1",
                },
            ]
        }
    )

    holder: str = Field(
        default="", max_length=253, description='Pod name of the holder; "" when free.'
    )
    capabilities: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="Capabilities the holder advertised when it claimed.",
        json_schema_extra={"x-kubernetes-list-type": "set", "items": {"maxLength": 63}},
    )
    epoch: int = Field(default=0, ge=0, description="Fencing token: + 1 at every change of holder.")
    acquire_time: datetime | None = Field(default=None, description="When the holder claimed.")
    renew_time: datetime | None = Field(
        default=None, description="Holder's last renewal (its clock)."
    )
    duration_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="Lease duration the holder promised to honour."
    )
    renew_interval_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="How often the holder promised to renew."
    )
    presence_instance: str | None = Field(
        default=None,
        max_length=128,
        description="The holder process's presence Lease instance (its taskmill.io/instance "
        "annotation) that keeps this lease alive: while that Lease is renewed, renewTime "
        "need not be. Unset when the holder renews renewTime itself.",
    )


class Progress(ApiModel):
    """Progress reported by the holder while it works."""

    percent: int | None = Field(default=None, ge=0, le=100, description="Percent done.")
    message: str = Field(default="", max_length=1024, description="Free-form progress note.")


class TaskResult(ApiModel):
    """What the last attempt returned."""

    exit_code: int | None = Field(default=None, description="Exit code of the command.")
    output: str = Field(
        default="",
        max_length=MAX_RESULT_OUTPUT,
        description="Tail of the output, or the JSON result, at most 4 KiB.",
    )
    message: str = Field(default="", max_length=1024, description="Human-readable summary.")
    reason: str = Field(
        default="", max_length=64, description="CamelCase reason, e.g. NonZeroExit."
    )
    files: FileManifest | None = Field(
        default=None, description="The files the attempt staged in and collected out."
    )
    output_object: FileRecord | None = Field(
        default=None,
        description="Where a result over the 4 KiB inline limit was stored instead of output.",
    )


class HistoryEntry(ApiModel):
    """One ended lease."""

    epoch: int = Field(ge=0, description="Epoch of the lease that ended.")
    holder: str = Field(default="", max_length=253, description="Who held it.")
    outcome: str = Field(
        max_length=32,
        description="Succeeded, Failed, Expired, Released, Cancelled or TimedOut.",
    )
    reason: str = Field(default="", max_length=64, description="CamelCase reason.")
    time: datetime = Field(description="When the lease ended.")


class TaskStatus(ApiModel):
    """Observed state of a Task: written by the lease holder and the operator."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"!(oldSelf.phase in {_TERMINAL}) || self.phase == oldSelf.phase",
                    "message": "status.phase is terminal and cannot change",
                },
                {
                    "rule": "self.attempts >= oldSelf.attempts",
                    "message": "status.attempts must never decrease",
                },
            ]
        }
    )

    phase: TaskPhase = Field(default=TaskPhase.PENDING, description="Raw lifecycle phase.")
    reason: str = Field(
        default="",
        max_length=64,
        description="Why the task is in its phase, e.g. Backoff or Suspended for Held.",
    )
    normalized_status: NormalizedStatus = Field(
        # What protocol.normalized_task_status gives a new task, so that `kubectl get
        # tasks` shows a status before the first status write.
        default=NormalizedStatus.WAITING,
        description="Normalized status of this task.",
    )
    attempts: int = Field(default=0, ge=0, description="Attempts used (failures and expiries).")
    retry_after: datetime | None = Field(
        default=None, description="Earliest time a Held task in backoff may be leased again."
    )
    start_time: datetime | None = Field(
        default=None, description="When the current attempt started."
    )
    completion_time: datetime | None = Field(default=None, description="When the task finished.")
    lease: TaskLease = Field(
        default_factory=TaskLease,
        description="Current lease.",
        json_schema_extra={"default": {}},
    )
    progress: Progress | None = Field(default=None, description="Progress of the current attempt.")
    result: TaskResult | None = Field(default=None, description="Result of the last attempt.")
    history: list[HistoryEntry] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description=f"Ended leases, newest last, at most {MAX_HISTORY}.",
    )


class Task(ApiModel):
    """One unit of work of a BatchJob."""

    api_version: Literal["taskmill.io/v1alpha1"] = "taskmill.io/v1alpha1"
    kind: Literal["Task"] = "Task"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TaskSpec
    status: TaskStatus = Field(default_factory=TaskStatus, json_schema_extra={"default": {}})


TASK_CRD = CrdInfo(
    kind="Task",
    plural="tasks",
    singular="task",
    short_names=("tmt",),
    printer_columns=(
        PrinterColumn("Status", ".status.normalizedStatus", description="Normalized status"),
        PrinterColumn("Holder", ".status.lease.holder"),
        PrinterColumn("Attempts", ".status.attempts", type="integer"),
        PrinterColumn("Capability", ".spec.capability"),
        PrinterColumn("Phase", ".status.phase", priority=1),
        PrinterColumn("Priority", ".spec.priority", type="integer", priority=1),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
    ),
    selectable_fields=(
        ".status.phase",
        ".spec.capability",
        ".spec.batchJob",
        ".status.lease.holder",
    ),
    root_validations=(
        {
            # A success is written by a lease holder, or, for a task run before it was
            # claimed, by the one write that claims it and reports: the lease it held
            # (epoch + 1) is already ended (epoch + 2) and recorded as the newest history
            # entry. Providers' identities are checked by the admission policy.
            "rule": "!has(oldSelf.status) || !has(self.status)"
            " || self.status.phase != 'Succeeded' || oldSelf.status.phase == 'Succeeded'"
            " || oldSelf.status.phase in ['Leased', 'Running']"
            " || (self.spec.claim == 'Optimistic' && oldSelf.status.phase == 'Pending'"
            " && oldSelf.status.lease.holder == ''"
            " && self.status.lease.epoch == oldSelf.status.lease.epoch + 2"
            " && has(self.status.history) && size(self.status.history) > 0"
            " && self.status.history[size(self.status.history) - 1].epoch"
            " == oldSelf.status.lease.epoch + 1)",
            "message": "status.phase may become Succeeded only from Leased or Running, or "
            "straight from Pending in one claim-and-result write when spec.claim is Optimistic",
        },
    ),
)


OrderKey = tuple[int, datetime, int, str]
_EPOCH = datetime.min.replace(tzinfo=UTC)


def order_key(task: Task) -> OrderKey:
    """The order providers take leasable Tasks of one capability in: highest priority
    first; ties: older creation, then lower index, then name. `kubectl taskmill why`
    reports a job's place in it."""
    created = task.metadata.creation_timestamp or _EPOCH
    return (-task.spec.priority, created, task.spec.index, task.metadata.name)
