"""ttlSecondsAfterFinished: when a finished BatchJob (and, by ownership, its Tasks) goes.

The clock starts at status.completionTime, which the operator sets once when the job
finishes, so a restarted operator computes the same instant.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from taskmill.api.batchjob import BatchJob, BatchJobSpec, BatchJobStatus
from taskmill.api.common import TERMINAL_JOB_PHASES


def ttl_expires_at(spec: BatchJobSpec, status: BatchJobStatus) -> datetime | None:
    """When the job may be deleted; None while it runs or when it has no TTL."""
    ttl = spec.ttl_seconds_after_finished
    if ttl is None or status.phase not in TERMINAL_JOB_PHASES or status.completion_time is None:
        return None
    return status.completion_time + timedelta(seconds=ttl)


def dependents_holding(dependents: Iterable[BatchJob]) -> list[str]:
    """Dependents that still need the finished job to exist: neither finished nor latched
    (status.dependenciesMetTime). Deleting it first would leave them waiting for it to
    exist, for good; its TTL waits for them instead."""
    return sorted(
        d.metadata.name
        for d in dependents
        if d.status.phase not in TERMINAL_JOB_PHASES and d.status.dependencies_met_time is None
    )
