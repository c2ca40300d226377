"""metav1.Condition bookkeeping for BatchJob status.

Conditions form a list keyed by type. A condition's lastTransitionTime records when
its status last changed, not when it was last written, so setting a condition to the
status it already has keeps the old time; otherwise every status write would look
like a transition to kubectl, kstatus and Argo CD.
"""

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from taskmill.api.common import Condition, ConditionStatus

MAX_MESSAGE = 32768  # metav1.Condition.message limit


class ConditionType(StrEnum):
    """The condition types a BatchJob carries (DESIGN §2)."""

    ACCEPTED = "Accepted"
    RECONCILING = "Reconciling"
    READY = "Ready"
    STALLED = "Stalled"
    COMPLETE = "Complete"
    FAILED = "Failed"
    SUSPENDED = "Suspended"
    CANCELLED = "Cancelled"
    LATE_TO_START = "LateToStart"
    RUNNING_LATE = "RunningLate"
    PROVIDERS_AVAILABLE = "ProvidersAvailable"
    # Problems: present only once they happened, False again when resolved.
    SPLIT_CHANGED = "SplitChanged"
    FOREIGN_TASKS = "ForeignTasks"
    CREATE_FAILED = "CreateFailed"


# Present only on jobs that met the problem (see ConditionType).
PROBLEM_CONDITIONS = frozenset(
    {ConditionType.SPLIT_CHANGED, ConditionType.FOREIGN_TASKS, ConditionType.CREATE_FAILED}
)


def find_condition(conditions: Sequence[Condition], type: str) -> Condition | None:
    return next((c for c in conditions if c.type == type), None)


def set_condition(
    conditions: Sequence[Condition],
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """A copy of `conditions` with the condition of `type` set; others keep their order.

    lastTransitionTime is `now` (whole seconds, as metav1.Time stores it) when the
    condition is new or its status changed, and is kept otherwise.
    """
    old = find_condition(conditions, type)
    if old is None or old.status != status:
        since = now.replace(microsecond=0)
    else:
        since = old.last_transition_time
    condition = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message[:MAX_MESSAGE],
        observed_generation=generation,
        last_transition_time=since,
    )
    if old is None:
        return [*conditions, condition]
    return [condition if c.type == type else c for c in conditions]
