"""StatusPolicy: CEL rules that map any workload kind to the normalized vocabulary.

A policy with no subjects is the cluster default; one with subjects applies to those
users, groups and service accounts, layered above the default (a user's own policy
first, then group policies by descending `spec.priority`). The engine that evaluates
these lives in `taskmill.status`; the operator compiles every policy and reports
what does not compile in its `Accepted` condition.
"""

from enum import StrEnum
from typing import Literal

from pydantic import Field

from taskmill.api.common import ApiModel, Condition, NormalizedStatus, ObjectMeta
from taskmill.api.meta import CrdInfo, PrinterColumn

# Bounds keep the CRD's CEL cost estimate and the engine's work per object small.
MAX_SUBJECTS = 64
MAX_KINDS = 64
MAX_RULES = 32
MAX_EXPRESSION = 2048


class SubjectKind(StrEnum):
    USER = "User"
    GROUP = "Group"
    SERVICE_ACCOUNT = "ServiceAccount"


class Subject(ApiModel):
    """Who a policy applies to, spelled like an RBAC subject."""

    kind: SubjectKind = Field(description="User, Group or ServiceAccount.")
    name: str = Field(min_length=1, max_length=253, description="The user, group or account.")
    namespace: str | None = Field(
        default=None,
        max_length=63,
        description="The ServiceAccount's namespace (required for ServiceAccount).",
    )


class StatusRule(ApiModel):
    """One candidate value: it applies when its CEL expression is true."""

    name: str = Field(
        default="",
        max_length=63,
        description="Shown as the provenance of a status; defaults to the value.",
    )
    value: NormalizedStatus = Field(description="The normalized status this rule gives.")
    when: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION,
        description=(
            "CEL over `object` (the workload), `now` (a timestamp) and `facts` (what an "
            "adapter gathered about it). The first rule that is true wins."
        ),
    )
    reason: str = Field(
        default="",
        max_length=256,
        description="A one-line reason shown with the status; defaults to the rule's text.",
    )


class KindRules(ApiModel):
    """The ordered rules for one kind."""

    api_group: str = Field(
        max_length=253, description="The kind's API group; empty for the core group."
    )
    kind: str = Field(min_length=1, max_length=63, description="The kind, e.g. Job.")
    rules: list[StatusRule] = Field(
        min_length=1,
        description="Tried in order; no match falls through to the next policy layer.",
        json_schema_extra={"maxItems": MAX_RULES},
    )


class StatusPolicySpec(ApiModel):
    subjects: list[Subject] = Field(
        default_factory=list,
        description="Users, groups or service accounts it applies to; none = the cluster default.",
        json_schema_extra={"maxItems": MAX_SUBJECTS},
    )
    priority: int = Field(
        default=0,
        ge=-1000,
        le=1000,
        description="Order among the group policies of one viewer: higher is tried first.",
    )
    rules: list[KindRules] = Field(
        default_factory=list,
        description="Rules per apiGroup and kind.",
        json_schema_extra={
            "maxItems": MAX_KINDS,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["apiGroup", "kind"],
        },
    )


class StatusPolicyStatus(ApiModel):
    observed_generation: int = Field(
        default=0, ge=0, description="The .metadata.generation the status was computed for."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=8,
        description="`Accepted`: every rule compiled; False names each rule that did not.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class StatusPolicy(ApiModel):
    """Cluster-scoped rules that normalize workload statuses for some or all viewers."""

    api_version: Literal["taskmill.io/v1alpha1"] = "taskmill.io/v1alpha1"
    kind: Literal["StatusPolicy"] = "StatusPolicy"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: StatusPolicySpec = Field(
        default_factory=StatusPolicySpec, description="Who the policy is for, and its rules."
    )
    status: StatusPolicyStatus = Field(
        default_factory=StatusPolicyStatus,
        description="Written by the operator: whether the rules compiled.",
        json_schema_extra={"default": {}},
    )


STATUSPOLICY_CRD = CrdInfo(
    in_category=False,
    kind="StatusPolicy",
    plural="statuspolicies",
    singular="statuspolicy",
    short_names=("tmsp",),
    scope="Cluster",
    printer_columns=(
        PrinterColumn("Priority", ".spec.priority", type="integer"),
        PrinterColumn(
            "Accepted", '.status.conditions[?(@.type=="Accepted")].status', description="Compiled"
        ),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
    ),
    root_validations=(
        {
            "rule": "!has(self.spec.subjects) || self.spec.subjects.all(s, "
            "(s.kind == 'ServiceAccount') == has(s.__namespace__))",
            "message": "spec.subjects: a ServiceAccount needs a namespace; "
            "a User or Group has none",
            "fieldPath": ".spec.subjects",
        },
    ),
)
