"""The normalized status of a BatchJob: one value from the raw state, by precedence.

Every trigger below is judged on its own; when several hold at once, the one higher
in the table wins. The order puts what a user must act on, or can no longer change,
above what is merely in progress.

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
lease make the job eligible whatever its predecessors say; the caller reports
`leasable` as zero while predecessors are unfinished.
"""

from collections.abc import Callable
from dataclasses import dataclass

from taskmill.api.common import JobPhase, NormalizedStatus


@dataclass(frozen=True)
class NormalizationInputs:
    """The raw state of one BatchJob, reduced to what the precedence table reads."""

    phase: JobPhase
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


Trigger = Callable[[NormalizationInputs], bool]

# Highest precedence first; `normalize` returns the first value whose trigger holds.
PRECEDENCE: tuple[tuple[NormalizedStatus, Trigger], ...] = (
    (NormalizedStatus.CANCEL, lambda i: i.cancel_requested or i.phase == JobPhase.CANCELLED),
    (
        NormalizedStatus.FAILURE,
        lambda i: i.phase == JobPhase.FAILED or not i.accepted or i.active_deadline_exceeded,
    ),
    (NormalizedStatus.SUCCESS, lambda i: i.phase == JobPhase.SUCCEEDED),
    (NormalizedStatus.ON_HOLD, lambda i: i.suspended),
    (NormalizedStatus.LATE_TO_START, lambda i: i.late_to_start),
    (NormalizedStatus.RUNNING_LATE, lambda i: i.running_late),
    (NormalizedStatus.RESTART, lambda i: i.retrying > 0),
    (NormalizedStatus.RUNNING, lambda i: i.leased > 0),
    (NormalizedStatus.WAITING, lambda i: i.leasable > 0),
    (NormalizedStatus.INACTIVE, lambda i: not i.dependencies_met),
)


def normalize(i: NormalizationInputs) -> NormalizedStatus:
    """The one normalized status for this raw state (see the table above)."""
    for value, trigger in PRECEDENCE:
        if trigger(i):
            return value
    return NormalizedStatus.UNKNOWN
