"""compute_status: phase rules, conditions for kubectl wait / kstatus, and write suppression."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from taskmill.operator.conditions import PROBLEM_CONDITIONS, ConditionType, find_condition
from taskmill.operator.dependencies import DependencyState, DependencyStatus
from taskmill.operator.jobstatus import JobFacts, compute_status, status_changed

from taskmill.api import (
    BatchJob,
    BatchJobStatus,
    Condition,
    ConditionStatus,
    JobPhase,
    NormalizedStatus,
    TaskCounts,
)

from .builders import at, make_job

TRUE, FALSE, UNKNOWN = ConditionStatus.TRUE, ConditionStatus.FALSE, ConditionStatus.UNKNOWN
STARTED = JobFacts(first_start_time=at(5))
NOW = at(10)


def counts(**kw: int) -> TaskCounts:
    """Three tasks; the states not given are pending."""
    total = kw.pop("total", 3)
    return TaskCounts(total=total, pending=total - sum(kw.values()), **kw)


def condition(status: BatchJobStatus, type: ConditionType) -> Condition:
    found = find_condition(status.conditions, type)
    assert found is not None, f"{type} missing"
    return found


def truth(status: BatchJobStatus) -> dict[str, str]:
    return {c.type: c.status for c in status.conditions}


def kubectl_wait_met(status: BatchJobStatus, generation: int, type: str, value: str) -> bool:
    """kubectl wait --for=condition=TYPE=VALUE (pkg/cmd/wait/condition.go)."""
    for c in status.conditions:
        if c.type.lower() != type.lower():
            continue
        observed = c.observed_generation or status.observed_generation or 0
        return observed >= generation and c.status.lower() == value.lower()
    return False


def kstatus(status: BatchJobStatus, generation: int) -> str:
    """Flux/kstatus' generic rules (cli-utils pkg/kstatus/status/generic.go)."""
    if status.observed_generation != generation:
        return "InProgress"
    t = truth(status)
    if t.get("Reconciling") == TRUE:
        return "InProgress"
    if t.get("Stalled") == TRUE:
        return "Failed"
    return "Current"


@dataclass(frozen=True)
class Case:
    id: str
    job: dict[str, Any] = field(default_factory=dict)  # make_job arguments
    counts: TaskCounts = field(default_factory=counts)
    facts: JobFacts = field(default_factory=JobFacts)
    now: datetime = NOW
    phase: JobPhase = JobPhase.PENDING
    normalized: NormalizedStatus = NormalizedStatus.WAITING
    true: frozenset[str] = frozenset()  # conditions True; Accepted and Reconciling are implied
    reason: str = ""  # of Reconciling (finished) / Ready
    kstatus: str = "InProgress"


FINISHED = frozenset({"Accepted"})
CASES = [
    Case(
        "fresh job waits for a provider",
        true=frozenset({"ProvidersAvailable"}),
        facts=JobFacts(providers_available=True),
        reason="Waiting",
    ),
    Case("no live provider", facts=JobFacts(providers_available=False), reason="Waiting"),
    Case(
        "running",
        counts=counts(leased=2),
        facts=STARTED,
        phase=JobPhase.RUNNING,
        normalized=NormalizedStatus.RUNNING,
        reason="Running",
    ),
    Case(
        "a failed task does not stop the others",
        counts=counts(failed=1, leased=1),
        facts=STARTED,
        phase=JobPhase.RUNNING,
        normalized=NormalizedStatus.RUNNING,
    ),
    Case(
        "retrying",
        counts=counts(retrying=1, leased=1),
        facts=STARTED,
        phase=JobPhase.RUNNING,
        normalized=NormalizedStatus.RESTART,
        reason="Restart",
    ),
    Case(
        "all succeeded",
        counts=counts(succeeded=3),
        facts=STARTED,
        phase=JobPhase.SUCCEEDED,
        normalized=NormalizedStatus.SUCCESS,
        true=FINISHED | {"Ready", "Complete"},
        reason="TasksSucceeded",
        kstatus="Current",
    ),
    Case(
        "some failed, nothing left",
        counts=counts(succeeded=2, failed=1),
        facts=STARTED,
        phase=JobPhase.FAILED,
        normalized=NormalizedStatus.FAILURE,
        true=FINISHED | {"Stalled", "Failed"},
        reason="TasksFailed",
        kstatus="Failed",
    ),
    Case(
        "rejected",
        counts=counts(total=0),
        facts=JobFacts(accepted=False, rejection_reason="TooManyTasks", rejection_message="m"),
        phase=JobPhase.FAILED,
        normalized=NormalizedStatus.FAILURE,
        true=frozenset({"Stalled", "Failed"}),
        reason="TooManyTasks",
        kstatus="Failed",
    ),
    Case(
        "cancel while tasks terminate",
        job={"cancel": True},
        counts=counts(leased=1),
        facts=JobFacts(first_start_time=at(1), running_terminating=1),
        phase=JobPhase.RUNNING,
        normalized=NormalizedStatus.CANCEL,
        reason="Cancel",
    ),
    Case(
        "cancelled",
        job={"cancel": True},
        counts=counts(succeeded=1, cancelled=2),
        facts=STARTED,
        phase=JobPhase.CANCELLED,
        normalized=NormalizedStatus.CANCEL,
        true=FINISHED | {"Stalled", "Cancelled"},
        reason="JobCancelled",
        kstatus="Failed",
    ),
    Case(
        "cancel before anything ran",
        job={"cancel": True},
        phase=JobPhase.CANCELLED,
        normalized=NormalizedStatus.CANCEL,
        true=FINISHED | {"Stalled", "Cancelled"},
        reason="JobCancelled",
        kstatus="Failed",
    ),
    Case(
        "active deadline, tasks terminating",
        job={"deadlines": {"active_deadline_seconds": 10}},
        counts=counts(leased=2),
        facts=JobFacts(first_start_time=at(1), running_terminating=2),
        phase=JobPhase.RUNNING,
        normalized=NormalizedStatus.FAILURE,
        reason="Failure",
    ),
    Case(
        "active deadline, stopped",
        job={"deadlines": {"active_deadline_seconds": 10}},
        counts=counts(succeeded=1, cancelled=2),
        facts=STARTED,
        phase=JobPhase.FAILED,
        normalized=NormalizedStatus.FAILURE,
        true=FINISHED | {"Stalled", "Failed"},
        reason="DeadlineExceeded",
        kstatus="Failed",
    ),
    Case(
        "before the active deadline",
        job={"deadlines": {"active_deadline_seconds": 11}},
        counts=counts(leased=2),
        facts=STARTED,
        phase=JobPhase.RUNNING,
        normalized=NormalizedStatus.RUNNING,
    ),
    Case(
        "predecessor failed",
        job={"depends_on": ["a"]},
        facts=JobFacts(dependencies=DependencyState(DependencyStatus.FAILED, "a failed")),
        phase=JobPhase.FAILED,
        normalized=NormalizedStatus.FAILURE,
        true=FINISHED | {"Stalled", "Failed"},
        reason="DependencyFailed",
        kstatus="Failed",
    ),
    Case(
        "predecessor unfinished",
        job={"depends_on": ["a"]},
        facts=JobFacts(dependencies=DependencyState(DependencyStatus.PENDING, "wait for a")),
        normalized=NormalizedStatus.INACTIVE,
        reason="Inactive",
    ),
    Case(
        "predecessors met",
        job={"depends_on": ["a"]},
        facts=JobFacts(dependencies=DependencyState(DependencyStatus.MET)),
        normalized=NormalizedStatus.WAITING,
    ),
    Case(
        "suspended",
        job={"suspend": True},
        counts=counts(leased=1),
        facts=STARTED,
        phase=JobPhase.RUNNING,
        normalized=NormalizedStatus.ON_HOLD,
        true=frozenset({"Suspended"}),
        reason="OnHold",
    ),
    Case(
        "late to start",
        job={"deadlines": {"start_within_seconds": 10}},
        normalized=NormalizedStatus.LATE_TO_START,
        true=frozenset({"LateToStart"}),
        reason="LateToStart",
    ),
    Case("not yet late to start", job={"deadlines": {"start_within_seconds": 11}}),
    Case(
        "started in time is never late to start",
        job={"deadlines": {"start_within_seconds": 10}},
        counts=counts(leased=1),
        facts=STARTED,
        now=at(60),
        phase=JobPhase.RUNNING,
        normalized=NormalizedStatus.RUNNING,
    ),
    Case(
        "running late",
        job={"deadlines": {"expected_duration_seconds": 10}},
        counts=counts(leased=1),
        facts=STARTED,
        phase=JobPhase.RUNNING,
        normalized=NormalizedStatus.RUNNING_LATE,
        true=frozenset({"RunningLate"}),
    ),
    Case(
        "finished jobs are not late",
        job={"deadlines": {"expected_duration_seconds": 5, "start_within_seconds": 1}},
        counts=counts(succeeded=3),
        facts=STARTED,
        phase=JobPhase.SUCCEEDED,
        normalized=NormalizedStatus.SUCCESS,
        true=FINISHED | {"Ready", "Complete"},
        kstatus="Current",
    ),
    Case(
        "nothing to lease, nothing running",
        counts=counts(total=0),
        normalized=NormalizedStatus.UNKNOWN,
        reason="Unknown",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_phase_normalized_status_and_conditions(case: Case) -> None:
    job = make_job(generation=4, **case.job)

    status = compute_status(job, case.counts, case.facts, [], case.now)

    assert (status.phase, status.normalized_status) == (case.phase, case.normalized)
    finished = case.phase in (JobPhase.SUCCEEDED, JobPhase.FAILED, JobPhase.CANCELLED)
    implied = {"Accepted"} if case.facts.accepted else set()
    implied |= set() if finished else {"Reconciling"}
    assert {t for t, s in truth(status).items() if s == TRUE} == case.true | implied
    assert set(truth(status)) == set(ConditionType) - PROBLEM_CONDITIONS
    assert all(c.observed_generation == 4 for c in status.conditions)
    assert status.observed_generation == 4
    if case.reason:
        assert condition(status, ConditionType.READY).reason == case.reason
        assert condition(status, ConditionType.RECONCILING).reason == case.reason
    assert kstatus(status, 4) == case.kstatus
    assert (case.kstatus == "Current") == (truth(status)["Ready"] == TRUE)
    assert kubectl_wait_met(status, 4, "Complete", "True") == (case.phase == JobPhase.SUCCEEDED)
    assert kubectl_wait_met(status, 4, "Reconciling", "False") == finished
    assert status.progress == f"{case.counts.succeeded}/{case.counts.total}"
    assert status.counts == case.counts
    assert (status.completion_time is not None) == finished


@pytest.mark.parametrize(
    ("providers", "expected", "reason"),
    [
        (None, UNKNOWN, "NotObserved"),
        (True, TRUE, "ProvidersAvailable"),
        (False, FALSE, "NoProviderForCapability"),
    ],
)
def test_providers_available(providers: bool | None, expected: str, reason: str) -> None:
    facts = JobFacts(providers_available=providers)
    status = compute_status(make_job(), counts(), facts, [], at(1))
    got = condition(status, ConditionType.PROVIDERS_AVAILABLE)
    assert (got.status, got.reason) == (expected, reason)


def test_no_provider_names_the_missing_capabilities() -> None:
    job = make_job(tasks=[{"name": "a", "capability": "gpu"}, {"name": "b"}])
    facts = JobFacts(providers_available=False, missing_capabilities=("gpu",))

    status = compute_status(job, counts(total=2), facts, [], at(1))

    assert "capability gpu" in condition(status, ConditionType.PROVIDERS_AVAILABLE).message
    assert "capability gpu" in condition(status, ConditionType.READY).message
    assert status.normalized_status == NormalizedStatus.WAITING


def test_kubectl_wait_needs_the_current_generation() -> None:
    """A status computed for an older generation never satisfies kubectl wait."""
    done = compute_status(make_job(generation=1), counts(succeeded=3), STARTED, [], at(9))
    assert kubectl_wait_met(done, 1, "Complete", "True")
    assert not kubectl_wait_met(done, 2, "Complete", "True")

    again = compute_status(make_job(generation=2, status=done), done.counts, STARTED, [], at(20))
    assert kubectl_wait_met(again, 2, "Complete", "True")


@pytest.mark.parametrize(
    ("spec", "old_facts", "task_counts", "later_spec", "later_facts", "reason"),
    [
        # spec.cancel after success: the job stays Succeeded
        ({}, STARTED, counts(succeeded=3), {"cancel": True}, STARTED, "TasksSucceeded"),
        # the failed predecessor was deleted: still failed for the reason it failed
        (
            {"depends_on": ["a"]},
            JobFacts(dependencies=DependencyState(DependencyStatus.FAILED, "a failed")),
            counts(),
            {"depends_on": ["a"]},
            JobFacts(dependencies=DependencyState(DependencyStatus.PENDING, "a missing")),
            "DependencyFailed",
        ),
        # a rejected job stays rejected even if the operator now accepts it
        (
            {},
            JobFacts(accepted=False, rejection_reason="TooManyTasks"),
            counts(total=0),
            {},
            JobFacts(),
            "TooManyTasks",
        ),
    ],
)
def test_a_finished_job_stays_finished(
    spec: dict[str, Any],
    old_facts: JobFacts,
    task_counts: TaskCounts,
    later_spec: dict[str, Any],
    later_facts: JobFacts,
    reason: str,
) -> None:
    first = compute_status(make_job(**spec), task_counts, old_facts, [], at(9))
    later = compute_status(
        make_job(status=first, **later_spec), task_counts, later_facts, [], at(99)
    )

    assert later.phase == first.phase
    assert later.normalized_status == first.normalized_status
    assert condition(later, ConditionType.RECONCILING).reason == reason
    assert condition(later, ConditionType.STALLED) == condition(first, ConditionType.STALLED)
    assert later.completion_time == first.completion_time == at(9)


def test_a_finished_job_without_its_final_condition_keeps_its_phase() -> None:
    old = BatchJobStatus(phase=JobPhase.FAILED)
    status = compute_status(make_job(status=old), counts(leased=1), STARTED, [], at(9))
    assert status.phase == JobPhase.FAILED
    assert condition(status, ConditionType.FAILED).reason == "Failed"


def test_providers_available_is_frozen_once_finished() -> None:
    job = make_job()
    done = compute_status(job, counts(succeeded=3), JobFacts(providers_available=True), [], at(9))
    later = compute_status(
        make_job(status=done), done.counts, JobFacts(providers_available=False), [], at(30)
    )
    assert condition(later, ConditionType.PROVIDERS_AVAILABLE).status == TRUE


def test_start_and_completion_times_are_kept_once_set() -> None:
    running = compute_status(make_job(), counts(leased=1), STARTED, [], at(6))
    assert running.start_time == at(5)

    later_start = JobFacts(first_start_time=at(7))  # the first task was retried since
    done = compute_status(make_job(status=running), counts(succeeded=3), later_start, [], at(8))
    assert (done.start_time, done.completion_time) == (at(5), at(8))


def test_failed_tasks_are_capped_at_twenty_in_index_order() -> None:
    names = [f"job-{i}" for i in range(30, 0, -1)]
    status = compute_status(make_job(), counts(failed=3), STARTED, names, at(6))
    assert status.failed_tasks == [f"job-{i}" for i in range(1, 21)]


def test_recomputing_the_same_state_keeps_transition_times_and_needs_no_write() -> None:
    facts = JobFacts(providers_available=True, first_start_time=at(1))
    first = compute_status(make_job(), counts(leased=1), facts, [], at(2))
    second = compute_status(make_job(status=first), counts(leased=1), facts, [], at(50))

    assert second.conditions == first.conditions
    assert not status_changed(first, second)

    third = compute_status(make_job(status=second), counts(succeeded=3), facts, [], at(60))
    assert status_changed(second, third)
    assert condition(third, ConditionType.COMPLETE).last_transition_time == at(60)
    assert condition(third, ConditionType.ACCEPTED).last_transition_time == at(2)


def _with(status: BatchJobStatus, **update: Any) -> BatchJobStatus:
    return status.model_copy(update=update)


BASE = compute_status(make_job(), counts(leased=1), STARTED, [], at(6))
RETIMED = [c.model_copy(update={"last_transition_time": at(99)}) for c in BASE.conditions]
READY = find_condition(BASE.conditions, ConditionType.READY)
assert READY is not None


@pytest.mark.parametrize(
    ("new", "changed"),
    [
        (BASE, False),
        (_with(BASE, conditions=RETIMED), False),
        (_with(BASE, conditions=list(reversed(BASE.conditions))), False),
        (_with(BASE, counts=counts(leased=2)), True),
        (_with(BASE, progress="1/3"), True),
        (_with(BASE, observed_generation=2), True),
        (_with(BASE, failed_tasks=["job-1"]), True),
        (_with(BASE, normalized_status=NormalizedStatus.RESTART), True),
        (_with(BASE, conditions=[READY.model_copy(update={"message": "other"})]), True),
        (_with(BASE, conditions=BASE.conditions[1:]), True),
    ],
)
def test_status_changed_ignores_only_transition_times_and_order(
    new: BatchJobStatus, changed: bool
) -> None:
    assert status_changed(BASE, new) == changed


def test_status_survives_a_round_trip_through_the_api_server_json() -> None:
    """What the runtime reads back after writing must compare equal to what it wrote."""
    status = compute_status(make_job(), counts(leased=1), STARTED, ["job-2"], at(6.5))
    reread = BatchJob.model_validate(
        {"spec": {"capability": "cap", "items": [1]}, "status": status.wire()}
    ).status
    assert not status_changed(status, reread)
