"""Names shared by every component: API group, labels, and per-kind CRD metadata."""

import re
from dataclasses import dataclass, field

GROUP = "taskmill.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "taskmill"

# Labels the operator puts on every Task, so providers and tools select by them.
LABEL_BATCHJOB = "taskmill.io/batchjob"
LABEL_CAPABILITY = "taskmill.io/capability"
# Provider presence Leases carry one label per capability they serve
# (`capability.taskmill.io/<name>: "true"`) plus this marker label.
LABEL_PROVIDER = "taskmill.io/provider"
CAPABILITY_LABEL_PREFIX = "capability.taskmill.io/"
PROVIDER_LEASE_PREFIX = "taskmill-provider-"
# On a provider's presence Lease: its slots, and how many run a task (at the last renewal).
ANNOTATION_CONCURRENCY = "taskmill.io/concurrency"
ANNOTATION_BUSY = "taskmill.io/busy"
# Scale-down: the operator sets DRAIN "true" on a provider's presence Lease to stop it
# claiming; the provider answers DRAINED "true" once it claims nothing and holds nothing.
ANNOTATION_DRAIN = "taskmill.io/drain"
ANNOTATION_DRAINED = "taskmill.io/drained"
# The provider process that holds the presence Lease (unique per process), and how often
# it renews the Lease. A task lease bound to that instance (status.lease.presenceInstance)
# lives as long as the presence Lease does: the holder renews one Lease, not each task.
ANNOTATION_INSTANCE = "taskmill.io/instance"
ANNOTATION_RENEW_INTERVAL = "taskmill.io/renew-interval-seconds"
# On a Task: the provider the operator nominated to take it first
# (taskmill.provider.nominees). A hint set at creation, never a lease; a label, so that
# a provider may watch only its own nominees and those of nobody. The operator takes
# it off a Pending Task whose nominee is gone or draining.
LABEL_NOMINEE = "taskmill.io/nominee"

# A capability is used as a label value and a label-key name segment.
CAPABILITY_PATTERN = r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$"
# Names of Kubernetes objects (RFC 1123 DNS subdomain, kept short enough that
# `<batchjob>-<index>` still fits in 253 characters).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


def is_label_value(text: str) -> bool:
    """Whether `text` may be a label's value: 63 characters at most, of that pattern."""
    return len(text) <= 63 and re.fullmatch(LABEL_VALUE_PATTERN, text) is not None


MAX_RESULT_OUTPUT = 4096
MAX_HISTORY = 10
MAX_FAILED_TASKS_LISTED = 20


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class CrdInfo:
    """What the CRD needs beyond the schema: names, columns, selectable fields."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    printer_columns: tuple[PrinterColumn, ...]
    selectable_fields: tuple[str, ...] = ()
    root_validations: tuple[dict[str, str], ...] = field(default=())
    scope: str = "Namespaced"  # or "Cluster"
    # `kubectl get taskmill` lists the work (jobs, tasks, pools), not configuration.
    in_category: bool = True
