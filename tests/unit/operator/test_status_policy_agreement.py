"""What the operator writes and what a viewer computes under the default policy agree.

The operator computes `status.normalizedStatus` from its cache; a viewer sees only the
object, and rebuilds the facts from the status the operator wrote. Over a grid of
jobs, task counts, observations and clocks, the two must give the same value.
"""

import itertools
from typing import Any

import pytest
from taskmill.operator.dependencies import DependencyState, DependencyStatus
from taskmill.operator.jobstatus import JobFacts, compute_status

from taskmill.api import BatchJob, NormalizedStatus, TaskCounts
from taskmill.status import Inventory, builtin_policy, gather, normalize

from .builders import at, make_job

SPECS: list[dict[str, Any]] = [
    {},
    {"suspend": True},
    {"cancel": True},
    {
        "deadlines": {
            "startWithinSeconds": 5,
            "expectedDurationSeconds": 8,
            "activeDeadlineSeconds": 15,
        }
    },
    {"dependsOn": ["pre"]},
]
COUNTS = [
    TaskCounts(total=3, pending=3),
    TaskCounts(total=3, pending=1, leased=2),
    TaskCounts(total=3, pending=1, leased=1, retrying=1),
    TaskCounts(total=3, succeeded=3),
    TaskCounts(total=3, succeeded=2, failed=1),
    TaskCounts(total=3, pending=2, cancelled=1),
]
FACTS = [
    JobFacts(),
    JobFacts(first_start_time=at(2)),
    JobFacts(accepted=False, rejection_message="spec.items: too many"),
    JobFacts(dependencies=DependencyState(DependencyStatus.PENDING, "waiting for pre")),
    JobFacts(dependencies=DependencyState(DependencyStatus.MET, "met")),
    JobFacts(dependencies=DependencyState(DependencyStatus.FAILED, "pre failed")),
    JobFacts(running_terminating=1),
]
CLOCK = [at(1), at(6), at(9), at(20)]


def samples() -> list[tuple[BatchJob, Any]]:
    out = []
    for spec, counts, facts, now in itertools.product(SPECS, COUNTS, FACTS, CLOCK):
        if (facts.dependencies.status == DependencyStatus.NONE) != ("dependsOn" not in spec):
            continue  # the operator reports dependencies exactly when the spec has some
        job = make_job(**spec)
        status = compute_status(job, counts, facts, [], now)
        # What the API server holds after the write; a second pass sees its own status.
        written = job.model_copy(update={"status": status})
        again = compute_status(written, counts, facts, [], now)
        out.append((written.model_copy(update={"status": again}), now))
    return out


SAMPLES = samples()


def test_the_grid_reaches_every_value_but_unknown() -> None:
    reached = {job.status.normalized_status for job, _ in SAMPLES}
    assert reached == set(NormalizedStatus) - {NormalizedStatus.UNKNOWN}


@pytest.mark.parametrize(("job", "now"), SAMPLES)
def test_a_viewer_under_the_default_policy_sees_what_the_operator_wrote(
    job: BatchJob, now: Any
) -> None:
    obj = job.wire()
    verdict = normalize(obj, [builtin_policy()], now, gather(obj, Inventory(), now).facts)
    assert verdict.errors == ()
    assert verdict.value == job.status.normalized_status
