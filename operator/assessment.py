"""What the operator judges about one job before it plans: acceptance, predecessors,
providers and whether the job must stop. Pure: the caller passes the other jobs of the
namespace, the live capabilities and the clock."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from taskmill.operator.dependencies import (
    DependencyState,
    DependencyStatus,
    dependency_state,
    find_cycle,
)
from taskmill.operator.planning import DEADLINE_EXCEEDED, JOB_CANCELLED, JOB_FAILED
from taskmill.operator.validation import Problem

from taskmill.api import BatchJob, JobPhase
from taskmill.api.common import TERMINAL_JOB_PHASES
from taskmill.api.deadlines import active_deadline_exceeded

REASON_DEPENDENCY_CYCLE = "DependencyCycle"


@dataclass(frozen=True)
class Assessment:
    accepted: bool
    rejection_reason: str
    rejection_message: str
    dependencies: DependencyState
    providers_available: bool | None  # None until the provider Leases were listed
    missing_capabilities: tuple[str, ...]
    stop_reason: str  # JOB_CANCELLED, JOB_FAILED, DEADLINE_EXCEEDED or ""

    @property
    def eligible(self) -> bool:
        """May tasks be created and leased (before suspend and parallelism)?"""
        return self.accepted and self.dependencies.met and not self.stop_reason


def assess(
    job: BatchJob,
    problems: list[Problem],
    namespace_jobs: Mapping[str, BatchJob],
    live_capabilities: frozenset[str] | None,
    capabilities: frozenset[str],
    now: datetime,
) -> Assessment:
    """`problems` are the job's semantic errors (validation.validate); `namespace_jobs`
    maps names to the jobs of the job's namespace, itself included."""
    cycle = _cycle(job, namespace_jobs)
    if cycle:
        problems = [*problems, (REASON_DEPENDENCY_CYCLE, "dependency cycle: " + " -> ".join(cycle))]
    missing = () if live_capabilities is None else tuple(sorted(capabilities - live_capabilities))
    return Assessment(
        accepted=not problems,
        rejection_reason=problems[0][0] if problems else "",
        rejection_message="; ".join(message for _, message in problems),
        dependencies=_dependencies(job, namespace_jobs),
        providers_available=None if live_capabilities is None else not missing,
        missing_capabilities=missing,
        stop_reason=_stop_reason(job, not problems, now),
    )


def _dependencies(job: BatchJob, namespace_jobs: Mapping[str, BatchJob]) -> DependencyState:
    """Latched: once every predecessor succeeded (status.dependenciesMetTime), the job
    stays eligible whatever becomes of them, e.g. deleted by their own TTL."""
    if job.status.dependencies_met_time is not None:
        return DependencyState(
            DependencyStatus.MET if job.spec.depends_on else DependencyStatus.NONE,
            "all predecessors succeeded" if job.spec.depends_on else "",
        )
    predecessors = {
        name: JobPhase(namespace_jobs[name].status.phase) if name in namespace_jobs else None
        for name in job.spec.depends_on or ()
    }
    return dependency_state(job.spec.depends_on, predecessors)


def _cycle(job: BatchJob, namespace_jobs: Mapping[str, BatchJob]) -> list[str] | None:
    """A cycle through this job itself; jobs that merely depend on a cycle wait instead
    (and fail with DependencyFailed once the cycle's members are refused)."""
    if not job.spec.depends_on:
        return None
    graph = {name: list(j.spec.depends_on or ()) for name, j in namespace_jobs.items()}
    cycle = find_cycle(graph, job.metadata.name)
    if cycle is None or job.metadata.name not in cycle:
        return None
    start = cycle.index(job.metadata.name)
    return [*cycle[start:-1], *cycle[:start], job.metadata.name]


def _stop_reason(job: BatchJob, accepted: bool, now: datetime) -> str:
    """Why running tasks must be terminated and the rest cancelled, if they must.

    A job that fails while tasks are live (its spec turned invalid after it started)
    stops them too: nothing stays leasable or running under a Failed job.
    """
    if job.spec.cancel:
        return JOB_CANCELLED
    if not accepted:
        return JOB_FAILED
    if job.status.phase == JobPhase.SUCCEEDED:
        return ""
    created = job.metadata.creation_timestamp
    if active_deadline_exceeded(job.spec.deadlines, created, now):
        return DEADLINE_EXCEEDED
    if job.status.phase == JobPhase.FAILED:
        return JOB_FAILED
    return ""


def finished(job: BatchJob) -> bool:
    return job.status.phase in TERMINAL_JOB_PHASES
