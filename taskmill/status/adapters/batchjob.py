"""BatchJob facts: what the built-in BatchJob rules read, from the operator or an object.

The operator builds `BatchJobFacts` from its cache while it computes a status; a viewer
rebuilds the same facts from the status the operator wrote (`from_object`). The rules
in the default policy read only these facts, in this precedence:

| Precedence | Value         | Trigger                                                        |
|-----------:|---------------|----------------------------------------------------------------|
|          1 | `Cancel`      | `spec.cancel` is set, or the phase is Cancelled                |
|          2 | `Failure`     | the phase is Failed, the spec was rejected, or the active      |
|            |               | deadline passed (running tasks are still being terminated)     |
|          3 | `Success`     | the phase is Succeeded                                         |
|          4 | `OnHold`      | `spec.suspend` is set                                          |
|          5 | `LateToStart` | no task started within `deadlines.startWithinSeconds`          |
|          6 | `RunningLate` | still unfinished after `deadlines.expectedDurationSeconds`     |
|          7 | `Restart`     | tasks wait to be retried after a failure or an expired lease   |
|          8 | `Running`     | tasks are leased or running                                    |
|          9 | `Waiting`     | eligible tasks that nobody holds, including when no live       |
|            |               | provider serves the capability                                 |
|         10 | `Inactive`    | not yet eligible: predecessors (`spec.dependsOn`) unfinished   |
|         11 | `Unknown`     | none of the above: the raw state maps to nothing               |

A finished job never shows `OnHold`, `Restart` or lateness: the terminal values sit
above them. `Waiting` outranks `Inactive` because tasks that providers can already
lease make the job eligible whatever its predecessors say; `leasable` is zero while
predecessors are unfinished. A job the operator has not written a status for yet
(`observedGeneration` 0) is `Waiting`, as its CRD-defaulted status already says.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from taskmill.api.batchjob import Deadlines
from taskmill.api.common import TERMINAL_JOB_PHASES, ConditionStatus, JobPhase
from taskmill.api.deadlines import active_deadline_exceeded, late_to_start, running_late
from taskmill.api.meta import API_VERSION

BATCHJOB_HEAD = {"apiVersion": API_VERSION, "kind": "BatchJob"}
NONE = Deadlines()


@dataclass(frozen=True)
class BatchJobFacts:
    """The raw state of one BatchJob, reduced to what the precedence table reads."""

    phase: str  # a JobPhase; a phase this version does not know maps to nothing (Unknown)
    accepted: bool = True
    cancel_requested: bool = False
    active_deadline_exceeded: bool = False
    suspended: bool = False
    late_to_start: bool = False
    running_late: bool = False
    retrying: int = 0  # tasks waiting for another attempt (backoff after failure or expiry)
    leased: int = 0  # tasks leased or running now
    leasable: int = 0  # tasks providers may lease now (zero while predecessors are unfinished)
    dependencies_met: bool = True
    observed: bool = True  # the operator has written a status for it

    def as_cel(self) -> dict[str, Any]:
        """The facts as rules see them: `facts.cancelRequested`, `facts.leased`, ..."""
        return {camel: _plain(getattr(self, name)) for name, camel in _FACT_NAMES.items()}


def from_object(obj: Mapping[str, Any], now: datetime) -> BatchJobFacts:
    """The facts the operator used, rebuilt from the status it wrote and the clock.

    Read straight from the object's JSON, without validating it into a model: a viewer
    reads thousands of BatchJobs at once.
    """
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    phase = str(status.get("phase") or JobPhase.PENDING)
    finished = phase in TERMINAL_JOB_PHASES
    deadlines = Deadlines.model_validate(spec["deadlines"]) if spec.get("deadlines") else NONE
    created = _time((obj.get("metadata") or {}).get("creationTimestamp"))
    started = _time(status.get("startTime"))
    accepted = not any(
        c.get("type") == "Accepted" and c.get("status") == ConditionStatus.FALSE
        for c in status.get("conditions") or ()
    )
    met = not spec.get("dependsOn") or bool(status.get("dependenciesMetTime"))
    counts = status.get("counts") or {}
    return BatchJobFacts(
        phase=phase,
        accepted=accepted,
        cancel_requested=bool(spec.get("cancel")) and not finished,
        active_deadline_exceeded=not finished and active_deadline_exceeded(deadlines, created, now),
        suspended=bool(spec.get("suspend")),
        late_to_start=not finished and late_to_start(deadlines, created, started, now),
        running_late=not finished and running_late(deadlines, created, now),
        retrying=int(counts.get("retrying", 0)),
        leased=int(counts.get("leased", 0)),
        leasable=int(counts.get("pending", 0)) if met else 0,
        dependencies_met=met,
        observed=int(status.get("observedGeneration") or 0) > 0,
    )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_FACT_NAMES = {f.name: _camel(f.name) for f in fields(BatchJobFacts)}


def _plain(value: Any) -> Any:
    """CEL takes str, not a str subclass such as an enum member."""
    return str(value) if isinstance(value, StrEnum) else value
