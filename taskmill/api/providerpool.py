"""ProviderPool: a workload of providers the operator sizes from the backlog.

The pool names its workload through `scaleTargetRef` (any object with a /scale
subresource, as HPA and KEDA do), so users keep their own Deployments. The operator
writes only the target's /scale and the providers' drain signals; it never edits the
workload's template.
"""

from datetime import datetime
from typing import Literal

from pydantic import Field

from taskmill.api.common import ApiModel, Condition, ObjectMeta
from taskmill.api.meta import CAPABILITY_PATTERN, DNS_SUBDOMAIN_PATTERN, CrdInfo, PrinterColumn

MAX_REPLICAS_LIMIT = 10_000


class ScaleTargetRef(ApiModel):
    """The workload whose /scale subresource the pool sets, in the pool's namespace."""

    api_version: str = Field(
        default="apps/v1",
        min_length=1,
        max_length=253,
        description="API version of the target, e.g. apps/v1.",
    )
    kind: str = Field(
        default="Deployment",
        min_length=1,
        max_length=63,
        description="Kind of the target, e.g. Deployment or StatefulSet.",
    )
    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Name of the target.",
    )


class ScalingBehavior(ApiModel):
    """How fast the pool follows its backlog."""

    scale_up_stabilization_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="Scale up only to the lowest size desired over this window (0: at once).",
    )
    scale_down_stabilization_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="Scale down only to the highest size desired over this window, so a "
        "short lull does not drop providers that are needed again a moment later.",
    )
    max_step: int = Field(
        default=10,
        ge=1,
        le=MAX_REPLICAS_LIMIT,
        description="Most replicas added or removed by one scale decision. Going from 0 to "
        "1 is always allowed.",
    )
    drain_timeout_seconds: int = Field(
        default=600,
        ge=0,
        le=86_400,
        description="How long a provider chosen for removal may finish its running tasks. "
        "After that it is removed anyway and its tasks are handed back without counting an "
        "attempt.",
    )


class ProviderPoolSpec(ApiModel):
    """Which capabilities the pool serves and between which sizes it scales."""

    capabilities: list[str] = Field(
        min_length=1,
        max_length=16,
        description="Capabilities the pool's providers serve; the backlog of these sizes it. "
        "A capability belongs to at most one pool in a namespace.",
        json_schema_extra={
            "items": {"maxLength": 63, "pattern": CAPABILITY_PATTERN},
            "x-kubernetes-list-type": "set",
        },
    )
    concurrency: int = Field(
        default=1, ge=1, le=1024, description="Task slots per provider (its --concurrency)."
    )
    min_replicas: int = Field(
        default=0, ge=0, le=MAX_REPLICAS_LIMIT, description="Fewest providers (0: scale to zero)."
    )
    max_replicas: int = Field(
        ge=1, le=MAX_REPLICAS_LIMIT, description="Most providers the pool may run."
    )
    scale_target_ref: ScaleTargetRef = Field(
        description="The workload with a /scale subresource that runs the providers."
    )
    behavior: ScalingBehavior = Field(
        default_factory=ScalingBehavior,
        description="Stabilisation windows, step limit and drain timeout.",
        json_schema_extra={"default": {}},
    )


class ProviderPoolStatus(ApiModel):
    """What the operator last observed and decided, written only by the operator."""

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this status was computed for."
    )
    replicas: int = Field(default=0, ge=0, description="Replicas the target has (its /scale).")
    desired: int = Field(default=0, ge=0, description="Replicas the backlog calls for now.")
    live_providers: int = Field(
        default=0, ge=0, description="Providers of the pool with a live presence Lease."
    )
    busy_slots: int = Field(default=0, ge=0, description="Slots running a task.")
    idle_slots: int = Field(default=0, ge=0, description="Slots free for a task.")
    backlog: int = Field(
        default=0,
        ge=0,
        description="Tasks of the pool's capabilities that want a slot: Pending or leased, "
        "at most each job's parallelism.",
    )
    draining: list[str] = Field(
        default_factory=list,
        max_length=MAX_REPLICAS_LIMIT,
        description="Providers told to stop claiming before the pool shrinks.",
        json_schema_extra={"items": {"maxLength": 253}},
    )
    last_scale_time: datetime | None = Field(
        default=None, description="When the pool last changed its target's replicas."
    )
    last_scale_reason: str = Field(
        default="", max_length=1024, description="Why it last changed them."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=8,
        description="Ready: the target can be scaled and the pool is valid.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class ProviderPool(ApiModel):
    """Providers of some capabilities, sized by the operator from the backlog."""

    api_version: Literal["taskmill.io/v1alpha1"] = "taskmill.io/v1alpha1"
    kind: Literal["ProviderPool"] = "ProviderPool"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ProviderPoolSpec
    status: ProviderPoolStatus = Field(
        default_factory=ProviderPoolStatus,
        json_schema_extra={"default": {"observedGeneration": 0}},
    )


PROVIDERPOOL_CRD = CrdInfo(
    kind="ProviderPool",
    plural="providerpools",
    singular="providerpool",
    short_names=("pp",),
    printer_columns=(
        PrinterColumn("Replicas", ".status.replicas", type="integer"),
        PrinterColumn("Desired", ".status.desired", type="integer"),
        PrinterColumn("Min", ".spec.minReplicas", type="integer"),
        PrinterColumn("Max", ".spec.maxReplicas", type="integer"),
        PrinterColumn("Backlog", ".status.backlog", type="integer"),
        PrinterColumn("Busy", ".status.busySlots", type="integer", priority=1),
        PrinterColumn("Idle", ".status.idleSlots", type="integer", priority=1),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Target", ".spec.scaleTargetRef.name", priority=1),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
    ),
    root_validations=(
        {
            "rule": "self.spec.minReplicas <= self.spec.maxReplicas",
            "message": "spec.minReplicas must not exceed spec.maxReplicas",
            "fieldPath": ".spec.minReplicas",
        },
    ),
)
