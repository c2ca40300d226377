"""ttlSecondsAfterFinished: when a finished BatchJob (and, by ownership, its Tasks) goes.

The clock starts at status.completionTime, which the operator sets once when the job
finishes, so a restarted operator computes the same instant.
"""

from datetime import datetime, timedelta

from taskmill.api.batchjob import BatchJobSpec, BatchJobStatus
from taskmill.api.common import TERMINAL_JOB_PHASES


def ttl_expires_at(spec: BatchJobSpec, status: BatchJobStatus) -> datetime | None:
    """When the job may be deleted; None while it runs or when it has no TTL."""
    ttl = spec.ttl_seconds_after_finished
    if ttl is None or status.phase not in TERMINAL_JOB_PHASES or status.completion_time is None:
        return None
    return status.completion_time + timedelta(seconds=ttl)
