"""The taskmill API: BatchJob and Task, defined once as pydantic models.

CRD YAML is generated from these types (`python -m taskmill.operator.api.crdgen`);
every field's description becomes what `kubectl explain` prints.
"""

from taskmill.operator.api.batchjob import (
    BatchJob,
    BatchJobSpec,
    BatchJobStatus,
    Deadlines,
    LeasePolicy,
    RangeSpec,
    RetryPolicy,
    TaskCounts,
    TaskTemplate,
)
from taskmill.operator.api.common import (
    Condition,
    ConditionStatus,
    JobPhase,
    NormalizedStatus,
    ObjectMeta,
    TaskPhase,
)
from taskmill.operator.api.meta import GROUP, VERSION
from taskmill.operator.api.task import (
    HistoryEntry,
    Progress,
    Task,
    TaskLease,
    TaskResult,
    TaskSpec,
    TaskStatus,
)

__all__ = [
    "GROUP",
    "VERSION",
    "BatchJob",
    "BatchJobSpec",
    "BatchJobStatus",
    "Condition",
    "ConditionStatus",
    "Deadlines",
    "HistoryEntry",
    "JobPhase",
    "LeasePolicy",
    "NormalizedStatus",
    "ObjectMeta",
    "Progress",
    "RangeSpec",
    "RetryPolicy",
    "Task",
    "TaskCounts",
    "TaskLease",
    "TaskPhase",
    "TaskResult",
    "TaskSpec",
    "TaskStatus",
    "TaskTemplate",
]
