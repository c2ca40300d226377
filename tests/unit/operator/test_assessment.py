"""Acceptance, dependencies, providers and stop reasons for one job."""

from typing import Any

from taskmill.operator.assessment import assess
from taskmill.operator.dependencies import DependencyStatus
from taskmill.operator.planning import DEADLINE_EXCEEDED, JOB_CANCELLED, JOB_FAILED

from taskmill.api import BatchJob, BatchJobStatus, JobPhase
from tests.unit.operator.builders import at, make_job


def jobs(*js: BatchJob) -> dict[str, BatchJob]:
    return {j.metadata.name: j for j in js}


def run(job: BatchJob, others: dict[str, BatchJob] | None = None, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "problems": [],
        "namespace_jobs": {job.metadata.name: job, **(others or {})},
        "live_capabilities": frozenset({"cap"}),
        "capabilities": frozenset({"cap"}),
        "now": at(10),
    }
    args.update(kw)
    return assess(job, **args)


def test_a_plain_job_is_eligible() -> None:
    a = run(make_job())
    assert (a.accepted, a.eligible, a.providers_available, a.stop_reason) == (True, True, True, "")


def test_semantic_problems_refuse_the_job() -> None:
    a = run(make_job(), problems=[("ReservedParam", "spec.params.item is reserved")])
    assert (a.accepted, a.rejection_reason, a.eligible) == (False, "ReservedParam", False)


def test_a_cycle_through_the_job_is_refused_naming_its_path() -> None:
    a, b = make_job(name="a", dependsOn=["b"]), make_job(name="b", dependsOn=["a"])
    got = run(a, jobs(b))
    assert (got.accepted, got.rejection_reason) == (False, "DependencyCycle")
    assert got.rejection_message == "dependency cycle: a -> b -> a"


def test_a_job_that_only_depends_on_a_cycle_waits() -> None:
    c = make_job(name="c", dependsOn=["a"])
    a, b = make_job(name="a", dependsOn=["b"]), make_job(name="b", dependsOn=["a"])
    got = run(c, jobs(a, b))
    assert got.accepted
    assert got.dependencies.status == DependencyStatus.PENDING


def test_predecessor_phases_decide_eligibility() -> None:
    done = make_job(name="up", status=BatchJobStatus(phase=JobPhase.SUCCEEDED))
    failed = make_job(name="up", status=BatchJobStatus(phase=JobPhase.FAILED))
    job = make_job(name="down", dependsOn=["up"])
    assert run(job, jobs(done)).eligible
    assert run(job, jobs(failed)).dependencies.status == DependencyStatus.FAILED
    assert not run(job).eligible  # predecessor missing: wait


def test_providers_unknown_until_listed_then_missing_capabilities_named() -> None:
    job = make_job(tasks=[{"name": "a"}, {"name": "b", "capability": "gpu"}])
    caps = frozenset({"cap", "gpu"})
    assert run(job, live_capabilities=None, capabilities=caps).providers_available is None
    got = run(job, live_capabilities=frozenset({"cap"}), capabilities=caps)
    assert (got.providers_available, got.missing_capabilities) == (False, ("gpu",))


def test_stop_reasons() -> None:
    assert run(make_job(cancel=True)).stop_reason == JOB_CANCELLED
    late = make_job(deadlines={"activeDeadlineSeconds": 5})
    assert run(late).stop_reason == DEADLINE_EXCEEDED
    assert run(late, now=at(4)).stop_reason == ""
    succeeded = make_job(
        deadlines={"activeDeadlineSeconds": 5}, status=BatchJobStatus(phase=JobPhase.SUCCEEDED)
    )
    assert run(succeeded).stop_reason == ""


def test_a_failed_or_rejected_job_stops_its_tasks() -> None:
    """Nothing stays leasable or running under a Failed job (issue 9 item 5)."""
    assert run(make_job(), problems=[("TooManyTasks", "spec.items: too many")]).stop_reason == (
        JOB_FAILED
    )
    failed = make_job(status=BatchJobStatus(phase=JobPhase.FAILED))
    assert run(failed).stop_reason == JOB_FAILED
    assert not run(failed).eligible


def test_met_dependencies_are_latched() -> None:
    """A predecessor deleted after it succeeded (its TTL) leaves the job eligible."""
    waiting = make_job(name="b", dependsOn=["a"])
    assert not run(waiting, jobs()).eligible
    latched = make_job(
        name="b", dependsOn=["a"], status=BatchJobStatus(dependencies_met_time=at(1))
    )
    got = run(latched, jobs())
    assert (got.eligible, got.dependencies.status) == (True, DependencyStatus.MET)
