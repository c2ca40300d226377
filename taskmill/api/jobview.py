"""JobView and ClusterJobView: saved views of the job status table.

A view is filters, columns and an order, optionally bound to users or groups ("my
team's view"). `kubectl taskmill status --view NAME` and the web UI apply it; a
JobView lives in a namespace and shows that namespace, a ClusterJobView may show all.
"""

from enum import StrEnum
from typing import Literal

from pydantic import Field

from taskmill.api.common import ApiModel, NormalizedStatus, ObjectMeta
from taskmill.api.meta import CrdInfo, PrinterColumn
from taskmill.api.statuspolicy import Subject


class Column(StrEnum):
    NAME = "NAME"
    KIND = "KIND"
    NAMESPACE = "NAMESPACE"
    STATUS = "STATUS"
    PROGRESS = "PROGRESS"
    AGE = "AGE"
    DURATION = "DURATION"
    REASON = "REASON"
    POLICY = "POLICY"
    RULE = "RULE"


DURATION_PATTERN = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"


class JobViewSpec(ApiModel):
    kinds: list[str] = Field(
        default_factory=list,
        description="Kinds shown (Kind or Kind.group, e.g. Job or Workflow.argoproj.io); "
        "empty: every kind a status policy knows.",
        json_schema_extra={"maxItems": 32, "items": {"maxLength": 253}},
    )
    statuses: list[NormalizedStatus] = Field(
        default_factory=list,
        description="Normalized statuses shown; empty: all.",
        json_schema_extra={"maxItems": 11},
    )
    selector: str = Field(
        default="", max_length=1024, description="A label selector, as kubectl -l takes it."
    )
    name: str = Field(default="", max_length=253, description="Only names containing this.")
    since: str = Field(
        default="",
        max_length=32,
        pattern=DURATION_PATTERN,
        description="Only workloads created within this long, e.g. 24h or 90m.",
    )
    columns: list[Column] = Field(
        default_factory=list,
        description="Columns, in order; empty: NAME KIND NAMESPACE STATUS PROGRESS AGE "
        "DURATION REASON.",
        json_schema_extra={"maxItems": 10},
    )
    sort_by: Column = Field(
        default=Column.STATUS, description="Sort column; STATUS sorts by severity."
    )
    subjects: list[Subject] = Field(
        default_factory=list,
        description="Users, groups or service accounts it is meant for (the UI lists it "
        "as theirs); empty: everyone who can read it.",
        json_schema_extra={"maxItems": 64},
    )
    all_namespaces: bool = Field(
        default=False,
        description="ClusterJobView only: show every namespace rather than the viewer's.",
    )


class _SavedView(ApiModel):
    api_version: Literal["taskmill.io/v1alpha1"] = "taskmill.io/v1alpha1"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: JobViewSpec = Field(
        default_factory=JobViewSpec, description="Filters, columns, order and audience."
    )


class JobView(_SavedView):
    """A saved view of one namespace's workloads."""

    kind: Literal["JobView"] = "JobView"


class ClusterJobView(_SavedView):
    """A saved view for the whole cluster (or any namespace the viewer picks)."""

    kind: Literal["ClusterJobView"] = "ClusterJobView"


_COLUMNS = (
    PrinterColumn("Sort", ".spec.sortBy"),
    PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
)
JOBVIEW_CRD = CrdInfo(
    in_category=False,
    kind="JobView",
    plural="jobviews",
    singular="jobview",
    short_names=("tmjv",),
    printer_columns=_COLUMNS,
)
CLUSTERJOBVIEW_CRD = CrdInfo(
    in_category=False,
    kind="ClusterJobView",
    plural="clusterjobviews",
    singular="clusterjobview",
    short_names=("tmcjv",),
    printer_columns=_COLUMNS,
    scope="Cluster",
)
