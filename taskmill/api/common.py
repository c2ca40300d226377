"""Types shared by BatchJob and Task: enums, conditions, the camelCase base model."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of every API type: camelCase on the wire, snake_case in Python.

    Unknown fields are ignored when parsing so that an operator reading an object
    written by a newer version keeps working; the API server's structural schema is
    what rejects unknown fields from users.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_enum_values=True,
        frozen=True,
        # Schemas are built on first use: a process that reads two kinds (kubectl
        # taskmill) does not pay for building all of them at import.
        defer_build=True,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON body as the API server stores it (camelCase, no unset fields)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class TaskPhase(StrEnum):
    """Raw lifecycle of one Task."""

    PENDING = "Pending"  # leasable now: the only phase providers' watches select
    HELD = "Held"  # exists but may not be leased (suspended, backoff, parallelism, cancel ack)
    LEASED = "Leased"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


TERMINAL_TASK_PHASES = frozenset({TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.CANCELLED})
ACTIVE_TASK_PHASES = frozenset({TaskPhase.LEASED, TaskPhase.RUNNING})


class ClaimMode(StrEnum):
    """When a provider claims a task: before running it, or together with its result."""

    LEASE = "Lease"  # claim (lease) first, renew while running, then report: 3 writes
    # Run first, then claim and report in one compare-and-swap: 2 writes. For short,
    # idempotent tasks only (docs/architecture.md, "Optimistic claims").
    OPTIMISTIC = "Optimistic"


class JobPhase(StrEnum):
    """Raw lifecycle of a BatchJob."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


TERMINAL_JOB_PHASES = frozenset({JobPhase.SUCCEEDED, JobPhase.FAILED, JobPhase.CANCELLED})


class NormalizedStatus(StrEnum):
    """The one status every tool shows, whatever the raw state behind it."""

    RUNNING = "Running"
    FAILURE = "Failure"
    WAITING = "Waiting"
    SUCCESS = "Success"
    CANCEL = "Cancel"
    RESTART = "Restart"
    ON_HOLD = "OnHold"
    LATE_TO_START = "LateToStart"
    RUNNING_LATE = "RunningLate"
    INACTIVE = "Inactive"
    UNKNOWN = "Unknown"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """A metav1.Condition: one observation of one aspect of the object's state."""

    type: str = Field(description="Type of condition in CamelCase, e.g. Complete.", max_length=316)
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The .metadata.generation the condition was set for.",
    )
    last_transition_time: datetime = Field(
        description="Last time the condition changed from one status to another."
    )
    reason: str = Field(
        description="Programmatic identifier for the last transition, in CamelCase.",
        max_length=1024,
        min_length=1,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    )
    message: str = Field(
        default="", description="Human-readable details about the transition.", max_length=32768
    )


class OwnerReference(ApiModel):
    """A metav1.OwnerReference (not part of the CRD schema)."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool = False


class ObjectMeta(ApiModel):
    """The parts of metav1.ObjectMeta the operator reads (not part of the CRD schema)."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)

    @property
    def controller_uid(self) -> str:
        """The uid of the object's controller (its managing owner); "" when it has none."""
        return next((o.uid for o in self.owner_references if o.controller), "")
