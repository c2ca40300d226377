"""The taskmill API: BatchJob and Task, defined once as pydantic models.

CRD YAML is generated from these types (`python -m taskmill.api.crdgen`);
every field's description becomes what `kubectl explain` prints.
"""

from taskmill.api.batchjob import (
    BatchJob,
    BatchJobSpec,
    BatchJobStatus,
    Deadlines,
    LeasePolicy,
    RangeSpec,
    RetryPolicy,
    SplitRecord,
    TaskCounts,
    TaskTemplate,
)
from taskmill.api.common import (
    Condition,
    ConditionStatus,
    JobPhase,
    NormalizedStatus,
    ObjectMeta,
    TaskPhase,
)
from taskmill.api.meta import GROUP, VERSION
from taskmill.api.task import (
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
    "SplitRecord",
    "Task",
    "TaskCounts",
    "TaskLease",
    "TaskPhase",
    "TaskResult",
    "TaskSpec",
    "TaskStatus",
    "TaskTemplate",
]
